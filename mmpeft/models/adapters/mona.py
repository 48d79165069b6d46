"""Mona: Multi-cognitive visual adapter (Yin et al., CVPR 2025, arXiv 2408.08345).

Submodule and parameter names follow the official code, so official checkpoints map key-for-key
(``my_module_1.project1.weight`` -> ``mona1.project1.weight``).
"""
from typing import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init, trunc_normal_init

from mmpeft.registry import register_model


class MonaConv(nn.Module):
    """Mona's multi-scale depthwise convolution block (``adapter_conv`` in the official code).

    ``m = (dw3(z) + dw5(z) + dw7(z)) / 3 + z``; ``out = projector(m) + m``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.conv2 = nn.Conv2d(channels, channels, 5, padding=2, groups=channels)
        self.conv3 = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.projector = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (self.conv1(x) + self.conv2(x) + self.conv3(x)) / 3.0 + x
        return self.projector(x) + x


@register_model
class Mona(BaseModule):
    """Mona adapter on a token sequence.

    ``out = x + project2(dropout(gelu(adapter_conv(project1(gamma * LN(x) + gammax * x)))))``, the
    convolutions running over the (H, W) token map.

    Args:
        in_dims: token channels C. Parameters: ``133 * C + 9728`` for ``inner_dims=64``.
        inner_dims: bottleneck width (64 in the paper for every stage).
        dropout: dropout after the GELU.
        init_cfg: unused by default; the official initialisation is done in the constructor
            (trunc-normal std 0.02 Linears with zero bias, LN 1/0, PyTorch-default convolutions,
            ``gamma`` = 1e-6, ``gammax`` = 1).
    """

    def __init__(self,
                 in_dims: int,
                 inner_dims: int = 64,
                 dropout: float = 0.1,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_dims = in_dims
        self.inner_dims = inner_dims
        self.project1 = nn.Linear(in_dims, inner_dims)
        self.nonlinear = nn.GELU()
        self.project2 = nn.Linear(inner_dims, in_dims)
        self.dropout = nn.Dropout(p=dropout)
        self.adapter_conv = MonaConv(inner_dims)
        self.norm = nn.LayerNorm(in_dims, eps=1e-5)
        self.gamma = nn.Parameter(torch.full((in_dims, ), 1e-6))
        self.gammax = nn.Parameter(torch.ones(in_dims))
        trunc_normal_init(self.project1, std=0.02, bias=0.)
        trunc_normal_init(self.project2, std=0.02, bias=0.)
        constant_init(self.norm, 1.0, bias=0.)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """``x``: (B, N, C) tokens; ``hw_shape``: the unpadded (H, W) with H * W == N."""
        b, n, c = x.shape
        h, w = int(hw_shape[0]), int(hw_shape[1])
        if n != h * w:
            raise ValueError(f'Mona got {n} tokens but hw_shape {tuple(hw_shape)} '
                             f'(H * W = {h * w}); pass the unpadded token map size')
        identity = x
        x = self.norm(x) * self.gamma + x * self.gammax
        z = self.project1(x)
        z = z.reshape(b, h, w, self.inner_dims).permute(0, 3, 1, 2)
        z = self.adapter_conv(z)
        z = z.permute(0, 2, 3, 1).reshape(b, n, self.inner_dims)
        z = self.dropout(self.nonlinear(z))
        return identity + self.project2(z)

    def extra_repr(self) -> str:
        return f'in_dims={self.in_dims}, inner_dims={self.inner_dims}'
