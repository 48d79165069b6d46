"""Training hooks."""
from .aux_loss_hook import AuxLossHook
from .checkpoint_load_hook import CheckpointLoadHook
from .freeze_backbone_hook import FreezeBackboneHook
from .trainable_checkpoint_hook import TrainableCheckpointHook

__all__ = ['AuxLossHook', 'CheckpointLoadHook', 'FreezeBackboneHook', 'TrainableCheckpointHook']
