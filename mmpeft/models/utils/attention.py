"""Attention helpers shared by the PEFT backbones."""
import torch.nn as nn


def _no_weights(module: nn.Module, args: tuple, kwargs: dict) -> tuple:
    kwargs['need_weights'] = False
    return args, kwargs


def skip_attention_weights(module: nn.Module) -> int:
    """Make every ``nn.MultiheadAttention`` in ``module`` skip returning attention weights.

    mmcv's ``MultiheadAttention`` wrapper never asks for the weights but calls
    ``nn.MultiheadAttention`` with the default ``need_weights=True``, which materialises the
    ``(B, N, N)`` head-averaged map and takes the slow path. With ``need_weights=False`` PyTorch
    uses ``scaled_dot_product_attention``: same outputs and parameters, less memory. Returns the
    number of attention modules changed; idempotent.
    """
    changed = 0
    for m in module.modules():
        if isinstance(m, nn.MultiheadAttention) and not getattr(m, '_mmpeft_no_weights', False):
            m.register_forward_pre_hook(_no_weights, with_kwargs=True)
            m._mmpeft_no_weights = True
            changed += 1
    return changed
