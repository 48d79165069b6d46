"""Write trainable-only checkpoints (see :mod:`mmpeft.engine.checkpoint`)."""
from mmengine.hooks import Hook

from mmpeft.engine.checkpoint import is_trainable_only, shrink_checkpoint
from mmpeft.registry import register_hook


@register_hook
class TrainableCheckpointHook(Hook):
    """Write only the trained tensors (+ buffers) to checkpoints: "one base model plus n small
    files".

    ``before_save_checkpoint`` keeps the trainable parameters, all buffers and every frozen
    parameter that was not loaded from a ``Pretrained`` ``init_cfg`` base file, and records the
    base checkpoints (path, sha256) in ``checkpoint['meta']['mmpeft_base']`` and in the state
    dict's metadata. Such files load everywhere: ``tools/test.py``, ``load_from`` and ``--resume``
    (through ``CheckpointLoadHook``, which every runner has once mmpeft is imported), and every
    API that loads a state dict into the model (``init_detector``, the inferencers,
    ``load_checkpoint``), whose mmpeft backbone completes itself from its base.

    Args:
        save_trainable_only: shrink saved checkpoints (False: save them whole).
    """
    priority = 'LOW'

    def __init__(self, save_trainable_only: bool = True) -> None:
        self.save_trainable_only = save_trainable_only

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.save_trainable_only and not is_trainable_only(checkpoint):
            shrink_checkpoint(runner.model, checkpoint)
