"""Add the PEFT methods' auxiliary losses to the model's loss dict."""
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmpeft.engine.checkpoint import unwrap_model
from mmpeft.models.peft.aux_loss import attach_aux_losses
from mmpeft.registry import register_hook


@register_hook
class AuxLossHook(Hook):
    """Before training, :func:`~mmpeft.models.peft.aux_loss.attach_aux_losses` to the runner's
    model: its ``mode='loss'`` dict then carries the methods' auxiliary losses (CoLin's
    ``loss_orth``), summed into the loss and logged by mmengine like the model's own.

    ``import mmpeft`` makes this a default hook of every runner (``default_hooks.aux_loss``); a
    model without such a method is left unchanged.
    """
    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        if attach_aux_losses(unwrap_model(runner.model)):
            print_log('PEFT auxiliary losses are added to the loss dict', logger='current')
