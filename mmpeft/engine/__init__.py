"""Training-time components: hooks, runner-level checkpoint handling."""
from . import hooks  # noqa: F401  (registers the hooks)
from .hooks import AuxLossHook, CheckpointLoadHook, FreezeBackboneHook, TrainableCheckpointHook
from .runner import add_default_hooks

__all__ = ['AuxLossHook', 'CheckpointLoadHook', 'FreezeBackboneHook', 'TrainableCheckpointHook',
           'add_default_hooks']
