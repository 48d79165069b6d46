"""Check and complete every checkpoint a runner loads."""
import logging
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from mmpeft.engine.checkpoint import check_checkpoint_fits, restore_checkpoint
from mmpeft.registry import register_hook


@register_hook
class CheckpointLoadHook(Hook):
    """Completes trainable-only checkpoints and refuses checkpoints that do not fit.

    ``import mmpeft`` makes this a default hook of every runner (``default_hooks.checkpoint_load``;
    ``default_hooks=dict(checkpoint_load=None)`` removes it), so that what a checkpoint restores
    never depends on the hooks a config happens to list:

    * ``after_load_checkpoint`` (``tools/test.py``, ``load_from``, ``--resume``): a trainable-only
      file is completed from its base weights after checking their sha256
      (:func:`~mmpeft.engine.checkpoint.restore_checkpoint`); a checkpoint being *resumed* (or
      any checkpoint, with ``strict=True``, as ``tools/test.py`` sets) must set every tensor of
      the model, or the error names what is missing and the model it was saved from;
    * ``before_train``: a resumed run past the end of its schedule is an error (it would train
      nothing), one that ends exactly there is reported.

    Args:
        allow_base_mismatch: load a trainable-only checkpoint onto another base checkpoint than
            recorded (a warning instead of an error; also ``MMPEFT_ALLOW_BASE_MISMATCH=1``).
        strict: every loaded checkpoint must set every tensor of the model (``load_from``
            otherwise allows partial checkpoints, e.g. to fine-tune from another task).
    """
    priority = 'VERY_HIGH'

    def __init__(self, allow_base_mismatch: Optional[bool] = None, strict: bool = False) -> None:
        self.allow_base_mismatch = allow_base_mismatch
        self.strict = strict

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        restore_checkpoint(runner.model, checkpoint, self.allow_base_mismatch)
        resuming = bool(getattr(runner, '_resume', False))
        if resuming or self.strict:
            check_checkpoint_fits(runner.model, checkpoint,
                                  getattr(runner, '_load_from', None) or 'the checkpoint',
                                  action='training' if resuming else 'testing')

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            done, end, unit = loop.epoch, loop.max_epochs, 'epoch'
        else:
            done, end, unit = loop.iter, loop.max_iters, 'iter'
        if done > end:
            raise RuntimeError(
                f'nothing to train: the run resumed at {unit} {done}, past the end of the '
                f'schedule (train_cfg.max_{unit}s={end}). Resume from an earlier checkpoint or '
                f'raise train_cfg.max_{unit}s.')
        if done == end and done > 0:
            print_log(f'the run resumed at {unit} {done}, the end of its schedule: nothing is '
                      'left to train', logger='current', level=logging.WARNING)
