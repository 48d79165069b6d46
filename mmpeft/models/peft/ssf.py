"""SSF: scaling and shifting your features (Lian et al., NeurIPS 2022, arXiv 2210.08823).

``y = layer(x) * gamma + beta`` per output channel, after every frozen operation of the network
(the reference ``dongzelian/SSF``, timm Swin and ViT): the patch embedding's projection and, in
Swin, its norm; in every block ``norm1``, ``qkv`` (3C), the attention's ``proj``, ``norm2``,
``fc1`` (4C, before the activation) and ``fc2``. Each :class:`SSF` replaces its layer at the
wrapping site (keeping the layer's ``weight``/``bias``), so the affine is applied before
drop-path, layer scale and windowing, exactly where the reference applies it. ``gamma`` starts
N(1, 0.02), ``beta`` N(0, 0.02) (``init_ssf_scale_shift``).

Trainable: ``2 * (11 * C)`` per block plus ``2 * C`` per patch-embedding site: Swin-B 265,216,
Swin-L 397,824, ViT-B/16 204,288 (the reference's SSF after the classification norm is not part of
a dense-prediction backbone). The released Swin has no SSF in PatchMerging (a bug of its
``BasicLayer``: the merging compares a list with ``'ssf'``), nor has this one.

Re-parameterisable: every SSF folds into the layer it follows (rows of the weight times gamma,
bias ``gamma * b + beta``).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from mmpeft.registry import register_peft_module

from .base import Site
from .wrapping import WrappingModule, channel_view


@register_peft_module
class SSF(WrappingModule):
    """A frozen Linear / LayerNorm / Conv2d followed by a per-channel scale and shift.

    Args:
        layer: the frozen layer it replaces (its ``weight``/``bias`` are kept).
        init_std: std of the initial ``ssf_scale`` (mean 1) and ``ssf_shift`` (mean 0).
    """
    insertions = ((None, Site.PATCH_PROJ), (None, Site.PATCH_NORM), (None, Site.NORM1),
                  (None, Site.QKV), (None, Site.PROJ), (None, Site.NORM2), (None, Site.FC1),
                  (None, Site.FC2))

    def __init__(self, layer: nn.Module, init_std: float = 0.02) -> None:
        super().__init__(layer)
        c = self.channels
        self.ssf_scale = nn.Parameter(torch.empty(c, dtype=self.weight.dtype,
                                                  device=self.weight.device))
        self.ssf_shift = nn.Parameter(torch.empty_like(self.ssf_scale))
        nn.init.normal_(self.ssf_scale, mean=1.0, std=init_std)
        nn.init.normal_(self.ssf_shift, std=init_std)

    def adapted(self, x: torch.Tensor) -> torch.Tensor:
        return (self.layer(x) * channel_view(self.ssf_scale, self.kind)
                + channel_view(self.ssf_shift, self.kind))

    def merged_params(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        scale = self.ssf_scale.view(-1, *([1] * (self.weight.ndim - 1)))
        bias = self.ssf_shift if self.bias is None else self.bias * self.ssf_scale + self.ssf_shift
        return self.weight * scale, bias
