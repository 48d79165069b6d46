"""Datasets: image classification through mmpretrain, STAR (rotated boxes, DOTA layout) and
reading huge images window by window.

Classification: the pieces the classification configs name.
mmpretrain's ``ImageClassifier``, ``GlobalAveragePooling``, linear and multi-label heads,
``CrossEntropyLoss``, ``ClsDataPreprocessor``, single-label, multi-label and VOC metrics, and the
``CustomDataset``, ``Flowers102``, ``OxfordIIITPet`` and ``VOC`` datasets are imported through
:func:`mmpeft.compat.import_mmpretrain`, so they register in mmpretrain's scope with or without
torchvision (which mmpretrain imports without declaring it). Where torchvision is missing, the
recipe's three transforms whose mmpretrain modules import it (``RandomResizedCrop``,
``ResizeEdge``, ``PackInputs``) are registered under mmpretrain's names from :mod:`.transforms`;
with torchvision, mmpretrain's own are used and nothing else changes.
"""
import importlib

from mmpeft.compat import has_torchvision, import_mmpretrain

from . import transforms
from .star import STAR_CLASSES, STAR_PALETTE, STAR_ROTATION_AGNOSTIC, STARDataset
from .windows import WindowReader, sliding_windows

CLASSIFICATION_TRANSFORMS = ('RandomResizedCrop', 'ResizeEdge', 'PackInputs')


def import_classification() -> None:
    """Import (and so register) mmpretrain's classification pieces; see the module docstring."""
    # the heads import Accuracy from the metrics package, mmpretrain.engine (which every
    # mmpretrain-scope registry of runner parts imports on first use) ArcFaceClsHead from the
    # heads and BaseRetriever from mmpretrain.models
    import_mmpretrain('mmpretrain.evaluation.metrics',
                      ['single_label', 'multi_label', 'voc_multi_label'])
    import_mmpretrain('mmpretrain.models', ['retrievers'])
    import_mmpretrain('mmpretrain.models.heads', ['cls_head', 'linear_head', 'margin_head',
                                                  'multi_label_cls_head',
                                                  'multi_label_linear_head'])
    import_mmpretrain('mmpretrain.datasets', ['base_dataset', 'custom', 'multi_label',
                                              'flowers102', 'oxfordiiitpet', 'voc'])
    for name in ('models.utils', 'models.losses', 'models.necks', 'models.classifiers',
                 'engine', 'visualization'):  # these import whole, torchvision or not
        importlib.import_module(f'mmpretrain.{name}')
    if not has_torchvision():
        from mmpretrain.registry import TRANSFORMS
        for name in CLASSIFICATION_TRANSFORMS:
            if name not in TRANSFORMS.module_dict:
                TRANSFORMS.register_module(module=getattr(transforms, name))


import_classification()

__all__ = ['CLASSIFICATION_TRANSFORMS', 'import_classification', 'transforms', 'STAR_CLASSES',
           'STAR_PALETTE', 'STAR_ROTATION_AGNOSTIC', 'STARDataset', 'WindowReader',
           'sliding_windows']
