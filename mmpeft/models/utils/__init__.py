"""Building blocks of the backbones: checked weight loading, freezing, module conversion."""
from .checkpoint import (
                         CheckpointFormat,
                         CheckpointMismatchError,
                         LoadReport,
                         load_backbone_checkpoint,
                         load_checked_state_dict,
                         pretrained_path,
                         read_state_dict,
                         select_backbone_keys,
                         strip_prefix,
)
from .convert import convert_module
from .foundation_checkpoint import (
                         detect_foundation_layout,
                         foundation_to_mmpretrain,
                         load_foundation_checkpoint,
)
from .freeze import (
                         FreezeConfigError,
                         FreezeMismatchError,
                         FreezeReport,
                         apply_freeze,
                         check_trainable_ratio,
                         count_parameters,
                         freeze_except,
                         match_trainable,
                         module_prefixes,
                         pattern_rule,
                         resolve_module,
                         trainable_table,
                         under_prefixes,
)
from .resnet_checkpoint import load_resnet_checkpoint, resnet_layout
from .swin_checkpoint import (
                         detect_swin_layout,
                         load_swin_checkpoint,
                         microsoft_to_mmdet,
                         resize_relative_position_tables,
                         swin_to_model_layout,
                         to_mmpeft_checkpoint,
)
from .validate import check_int
from .vit_checkpoint import detect_vit_layout, load_vit_checkpoint, timm_to_mmseg

__all__ = [
    'CheckpointFormat', 'CheckpointMismatchError', 'LoadReport', 'load_backbone_checkpoint',
    'load_checked_state_dict', 'pretrained_path', 'read_state_dict', 'select_backbone_keys',
    'strip_prefix', 'convert_module', 'FreezeConfigError', 'FreezeMismatchError',
    'FreezeReport', 'apply_freeze', 'check_trainable_ratio', 'count_parameters',
    'freeze_except', 'match_trainable', 'module_prefixes', 'pattern_rule', 'resolve_module',
    'trainable_table', 'under_prefixes', 'detect_swin_layout', 'load_swin_checkpoint',
    'microsoft_to_mmdet', 'resize_relative_position_tables', 'swin_to_model_layout',
    'to_mmpeft_checkpoint', 'check_int', 'detect_vit_layout', 'load_vit_checkpoint',
    'timm_to_mmseg', 'detect_foundation_layout', 'foundation_to_mmpretrain',
    'load_foundation_checkpoint', 'load_resnet_checkpoint', 'resnet_layout'
]
