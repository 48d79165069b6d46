"""Training hooks."""
from .freeze_backbone_hook import FreezeBackboneHook
from .trainable_checkpoint_hook import TrainableCheckpointHook

__all__ = ['FreezeBackboneHook', 'TrainableCheckpointHook']
