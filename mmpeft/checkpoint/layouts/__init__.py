"""The checkpoint layouts of the backbone families and of the reference codebases, brought into
mmpeft's parameter names: Swin (:mod:`.swin`), plain ViT and HST (:mod:`.vit`), the foundation
ViTs (:mod:`.foundation`), ResNet (:mod:`.resnet`) and the method zoo's reference files
(:mod:`.zoo`). Each family's loader is :func:`~mmpeft.checkpoint.loading.load_backbone_checkpoint`
with the family's :class:`~mmpeft.checkpoint.loading.CheckpointFormat`."""
from .foundation import (
    detect_foundation_layout,
    foundation_to_mmpretrain,
    load_foundation_checkpoint,
)
from .resnet import load_resnet_checkpoint, resnet_layout
from .swin import (
    detect_swin_layout,
    load_swin_checkpoint,
    microsoft_to_mmdet,
    resize_relative_position_tables,
    swin_to_model_layout,
    to_mmpeft_checkpoint,
)
from .vit import detect_vit_layout, load_vit_checkpoint, timm_to_mmseg

__all__ = [
    'detect_foundation_layout', 'foundation_to_mmpretrain', 'load_foundation_checkpoint',
    'load_resnet_checkpoint', 'resnet_layout', 'detect_swin_layout', 'load_swin_checkpoint',
    'microsoft_to_mmdet', 'resize_relative_position_tables', 'swin_to_model_layout',
    'to_mmpeft_checkpoint', 'detect_vit_layout', 'load_vit_checkpoint', 'timm_to_mmseg'
]
