"""Checkpoints, below the models: safe reading and checked loading of pretrained backbone weights
(:mod:`.loading`), the key layouts of every backbone family and reference codebase
(:mod:`.layouts`), and the base records of trainable-only checkpoints with their completion from
the base file (:mod:`.base_weights`)."""
from .base_weights import (
    ALLOW_ENV,
    META_KEY,
    BaseCheckpointMismatchError,
    complete_from_base,
    file_sha256,
    local_sha256,
    mark_bases,
    pretrained_path,
    raise_base_problems,
    recorded_base,
)
from .layouts import (
    detect_foundation_layout,
    detect_swin_layout,
    detect_vit_layout,
    foundation_to_mmpretrain,
    load_foundation_checkpoint,
    load_resnet_checkpoint,
    load_swin_checkpoint,
    load_vit_checkpoint,
    microsoft_to_mmdet,
    resize_relative_position_tables,
    resnet_layout,
    swin_to_model_layout,
    timm_to_mmseg,
    to_mmpeft_checkpoint,
)
from .loading import (
    CheckpointFormat,
    CheckpointMismatchError,
    LoadReport,
    load_backbone_checkpoint,
    load_checked_state_dict,
    read_state_dict,
    select_backbone_keys,
    strip_prefix,
)

__all__ = [
    'ALLOW_ENV', 'META_KEY', 'BaseCheckpointMismatchError', 'complete_from_base', 'file_sha256',
    'local_sha256', 'mark_bases', 'pretrained_path', 'raise_base_problems', 'recorded_base',
    'CheckpointFormat', 'CheckpointMismatchError', 'LoadReport', 'load_backbone_checkpoint',
    'load_checked_state_dict', 'read_state_dict', 'select_backbone_keys', 'strip_prefix',
    'detect_foundation_layout', 'foundation_to_mmpretrain', 'load_foundation_checkpoint',
    'load_resnet_checkpoint', 'resnet_layout', 'detect_swin_layout', 'load_swin_checkpoint',
    'microsoft_to_mmdet', 'resize_relative_position_tables', 'swin_to_model_layout',
    'to_mmpeft_checkpoint', 'detect_vit_layout', 'load_vit_checkpoint', 'timm_to_mmseg'
]
