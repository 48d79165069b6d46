"""Shared building blocks of the PEFT backbones: freezing and checked weight loading."""
from .checkpoint import (CheckpointMismatchError, LoadReport, load_checked_state_dict,
                         read_state_dict, select_backbone_keys, strip_prefix)
from .freeze import (PEFTBackboneMixin, count_parameters, freeze_except, module_prefixes,
                     under_prefixes)
from .swin_checkpoint import (SwinPEFTBackboneMixin, convert_swin_state_dict, detect_swin_layout, load_swin_checkpoint,
                              microsoft_to_mmdet, resize_relative_position_tables,
                              to_mmpeft_checkpoint)

__all__ = [
    'CheckpointMismatchError', 'LoadReport', 'load_checked_state_dict', 'read_state_dict',
    'select_backbone_keys', 'strip_prefix', 'PEFTBackboneMixin', 'count_parameters',
    'freeze_except', 'module_prefixes', 'under_prefixes', 'convert_swin_state_dict',
    'detect_swin_layout', 'load_swin_checkpoint', 'microsoft_to_mmdet',
    'resize_relative_position_tables', 'to_mmpeft_checkpoint', 'SwinPEFTBackboneMixin'
]
