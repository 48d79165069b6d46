"""Auxiliary losses of PEFT methods, added to the loss dict of whatever model holds them.

A method whose modules return terms from :meth:`~mmpeft.models.peft.PEFTModule.aux_losses`
(CoLin's ``loss_orth``) needs them in the model's loss. :func:`attach_aux_losses` does it once for
every model of mmengine's ``forward(inputs, data_samples, mode)`` protocol (mmdet's detectors,
mmseg's segmentors, mmrotate's and mmpeft's rotated detectors): a forward hook adds
:func:`collect_aux_losses` to the dict that ``mode='loss'`` returns, inside the model's forward (so
DDP sees the terms as part of the graph) and before mmengine's ``parse_losses`` sums and logs
them. ``import mmpeft`` attaches it to every runner's model (``AuxLossHook``); nothing is
back-propagated inside a forward.
"""
from typing import Dict

import torch
import torch.nn as nn

from .base import PEFTModule

_HANDLE = '_mmpeft_aux_loss_hook'


def aux_loss_modules(model: nn.Module):
    """The PEFT modules in ``model`` whose method has auxiliary losses."""
    return [m for m in model.modules() if isinstance(m, PEFTModule) and m.has_aux_losses]


def collect_aux_losses(model: nn.Module) -> Dict[str, torch.Tensor]:
    """The auxiliary losses of every PEFT module in ``model``, summed by name (float32)."""
    losses: Dict[str, torch.Tensor] = {}
    for module in aux_loss_modules(model):
        for name, value in module.aux_losses().items():
            losses[name] = losses[name] + value if name in losses else value
    return losses


def _call_mode(args: tuple, kwargs: dict) -> str:
    return kwargs.get('mode', args[2] if len(args) > 2 else 'tensor')


def _add_aux_losses(model: nn.Module, args: tuple, kwargs: dict, output):
    if _call_mode(args, kwargs) != 'loss':
        return output
    if not isinstance(output, dict):
        raise TypeError(f'{type(model).__name__}(mode="loss") returned '
                        f'{type(output).__name__}, not a loss dict to add the auxiliary losses to')
    extra = collect_aux_losses(model)
    clash = sorted(set(extra) & set(output))
    if clash:
        raise KeyError(f'the PEFT auxiliary losses {clash} are already in the loss dict of '
                       f'{type(model).__name__}')
    output.update(extra)
    return output


def attach_aux_losses(model: nn.Module) -> bool:
    """Make ``model(..., mode='loss')`` return the auxiliary losses of its PEFT modules too
    (idempotent). Returns whether ``model`` has any. Also marks those modules as collected (their
    training forward refuses to run otherwise, see
    :meth:`~mmpeft.models.peft.PEFTModule.check_aux_losses_collected`)."""
    modules = aux_loss_modules(model)
    if not modules:
        return False
    for module in modules:
        module.aux_losses_collected = True
    if getattr(model, _HANDLE, None) is None:
        setattr(model, _HANDLE,
                model.register_forward_hook(_add_aux_losses, with_kwargs=True))
    return True
