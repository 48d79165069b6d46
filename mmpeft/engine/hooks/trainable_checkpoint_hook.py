"""Save trainable-only checkpoints and restore them on load (see
:mod:`mmpeft.utils.trainable_checkpoint`)."""
from typing import Optional

from mmengine.hooks import Hook

from mmpeft.registry import register_hook
from mmpeft.utils.trainable_checkpoint import (is_trainable_only, restore_checkpoint,
                                               shrink_checkpoint)


class TrainableCheckpointMixin:
    """The checkpoint side of :class:`TrainableCheckpointHook`, also used by
    ``FreezeBackboneHook``; the hook sets ``save_trainable_only`` and ``allow_base_mismatch``."""
    save_trainable_only: bool
    allow_base_mismatch: Optional[bool]

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """With ``save_trainable_only``: keep trainable parameters and buffers only."""
        if self.save_trainable_only and not is_trainable_only(checkpoint):
            shrink_checkpoint(runner.model, checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Rebuild a trainable-only checkpoint's full state dict from the base weights."""
        restore_checkpoint(runner.model, checkpoint, self.allow_base_mismatch)


@register_hook
class TrainableCheckpointHook(TrainableCheckpointMixin, Hook):
    """Write only trainable parameters (+ buffers) to checkpoints; restore such files on load.

    ``before_save_checkpoint`` keeps the trainable parameters, all buffers and any frozen
    parameter that no ``Pretrained`` ``init_cfg`` provides, and records the base checkpoints
    (path, sha256) in ``checkpoint['meta']['mmpeft_base']``. ``after_load_checkpoint`` (test,
    ``load_from`` and resume) rebuilds the full state dict from the config's base weights plus the
    file, refusing a different base unless ``allow_base_mismatch`` or
    ``MMPEFT_ALLOW_BASE_MISMATCH=1``. Full checkpoints load as usual.

    Args:
        save_trainable_only: shrink saved checkpoints (False: only restore on load).
        allow_base_mismatch: load onto a different base checkpoint with a warning.
    """
    priority = 'LOW'

    def __init__(self, save_trainable_only: bool = True,
                 allow_base_mismatch: Optional[bool] = None) -> None:
        self.save_trainable_only = save_trainable_only
        self.allow_base_mismatch = allow_base_mismatch
