"""Dataset utilities: small deterministic synthetic datasets in real on-disk formats."""
from .synthetic import (
                        ADE20K_BACKGROUND_LABEL,
                        ADE20K_DEFAULT_LABELS,
                        ADE20K_IGNORE_LABEL,
                        ADE20K_LABELS,
                        COCO_CLASSES,
                        DOTA_CLASSES,
                        DOTA_DEFAULT_CLASSES,
                        FORMATS,
                        PALETTE,
                        SHAPES,
                        STAR_DEFAULT_CLASSES,
                        VOC_CLASSES,
                        VOC_DEFAULT_CLASSES,
                        class_color,
                        class_shape,
                        make_ade20k,
                        make_coco,
                        make_dataset,
                        make_dota,
                        make_star,
                        make_voc,
)
from .synthetic_cls import PET_BREEDS, make_flowers102, make_pets, make_voc_cls

__all__ = [
    'COCO_CLASSES', 'VOC_CLASSES', 'VOC_DEFAULT_CLASSES', 'DOTA_CLASSES', 'DOTA_DEFAULT_CLASSES',
    'ADE20K_LABELS', 'ADE20K_DEFAULT_LABELS', 'ADE20K_BACKGROUND_LABEL', 'ADE20K_IGNORE_LABEL',
    'PALETTE', 'SHAPES', 'FORMATS', 'class_color', 'class_shape', 'make_coco', 'make_ade20k',
    'make_voc', 'make_dota', 'make_dataset', 'PET_BREEDS', 'make_flowers102', 'make_pets',
    'make_voc_cls', 'STAR_DEFAULT_CLASSES', 'make_star'
]
