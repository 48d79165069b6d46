"""Building blocks of the backbones: freezing, module conversion, argument checks (the checked
weight loading and checkpoint layouts are :mod:`mmpeft.checkpoint`)."""
from .convert import convert_module
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
from .validate import check_int

__all__ = [
    'convert_module', 'FreezeConfigError', 'FreezeMismatchError', 'FreezeReport', 'apply_freeze',
    'check_trainable_ratio', 'count_parameters', 'freeze_except', 'match_trainable',
    'module_prefixes', 'pattern_rule', 'resolve_module', 'trainable_table', 'under_prefixes',
    'check_int'
]
