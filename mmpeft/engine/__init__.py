"""Training-time components: hooks, runner-level checkpoint handling, sliding-window loops."""
from . import hooks, sliding_window  # noqa: F401  (registers the hooks and loops)
from .hooks import AuxLossHook, CheckpointLoadHook, FreezeBackboneHook, TrainableCheckpointHook
from .runner import add_default_hooks
from .sliding_window import (
                             SlidingWindowTestLoop,
                             SlidingWindowValLoop,
                             predict_sliding,
                             predict_windows,
                             window_layout,
)

__all__ = ['AuxLossHook', 'CheckpointLoadHook', 'FreezeBackboneHook', 'TrainableCheckpointHook',
           'SlidingWindowTestLoop', 'SlidingWindowValLoop', 'add_default_hooks', 'predict_sliding',
           'predict_windows', 'window_layout']
