"""LoRand (Yin et al., CVPR 2023, "1% vs 100%"), as the Mona paper's baseline in STAR-MMRotate:
a sequential adapter ``x + project2(gelu(project1(x)))``, C -> C/2 -> C, whose projections are
:class:`LoRandLinear` s (a sum of low-rank products), after the drop-path of the attention and the
FFN branch (``lorand1``, ``lorand2``). Parameter names follow the reference
(``project1.param_dict.A0`` ...), so its checkpoints map key for key.
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmpeft.models.utils.validate import check_int
from mmpeft.registry import register_peft_module

from .base import PEFTModule, Site


class LoRandLinear(nn.Module):
    """A Linear whose ``(out, in)`` weight is ``sum_k (A_k @ g_k @ B_k).T`` with ``A_k``
    ``(in, kernel_dim)``, ``g_k`` ``(kernel_dim, kernel_dim)``, ``B_k`` ``(kernel_dim, out)``, plus
    a bias; the weight is recomputed at every forward.

    Init as the reference: every factor kaiming-uniform (a = sqrt(5), i.e. U(+-1/sqrt(fan_in)) with
    fan_in its second dimension), bias U(+-1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, num_branch: int = 4,
                 kernel_dim: int = 8, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.num_branch = check_int('LoRandLinear', 'num_branch', num_branch, 1)
        kernel_dim = check_int('LoRandLinear', 'kernel_dim', kernel_dim, 1)
        factors = {}
        for k in range(self.num_branch):
            factors[f'A{k}'] = nn.Parameter(torch.empty(in_features, kernel_dim))
            factors[f'g{k}'] = nn.Parameter(torch.empty(kernel_dim, kernel_dim))
            factors[f'B{k}'] = nn.Parameter(torch.empty(kernel_dim, out_features))
        for p in factors.values():
            nn.init.kaiming_uniform_(p, a=math.sqrt(5))
        self.param_dict = nn.ParameterDict(factors)
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        if self.bias is not None:
            bound = 1 / math.sqrt(in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    def weight(self) -> torch.Tensor:
        """The ``(out_features, in_features)`` weight."""
        p = self.param_dict
        return sum((p[f'A{k}'] @ p[f'g{k}'] @ p[f'B{k}']).t() for k in range(self.num_branch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight(), self.bias)

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, out_features={self.out_features}, '
                f'num_branch={self.num_branch}')


@register_peft_module
class LoRand(PEFTModule):
    """LoRand adapter ``x + project2(gelu(project1(x)))`` with :class:`LoRandLinear` projections.

    Parameters: ``97.5 * C + 512`` per adapter for the defaults, two per block (Swin-B 2,370,816).

    Args:
        in_dims: token channels C.
        factor: the bottleneck is ``C // factor`` (2 in the Mona paper's runs).
        num_branch, kernel_dim: low-rank products per projection and their rank.
    """
    insertions = (('lorand1', Site.ATTN_OUT_DROPPED), ('lorand2', Site.FFN_OUT_DROPPED))

    def __init__(self, in_dims: int, factor: int = 2, num_branch: int = 4, kernel_dim: int = 8,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        in_dims = check_int('LoRand', 'in_dims', in_dims, 1)
        factor = check_int('LoRand', 'factor', factor, 1)
        hidden = in_dims // factor
        if hidden < 1:
            raise ValueError(f'LoRand: in_dims // factor must be >= 1, got {in_dims} // {factor}')
        self.project1 = LoRandLinear(in_dims, hidden, num_branch, kernel_dim)
        self.project2 = LoRandLinear(hidden, in_dims, num_branch, kernel_dim)

    def forward(self, x: torch.Tensor, hw_shape: Optional[Sequence[int]] = None) -> torch.Tensor:
        return x + self.project2(F.gelu(self.project1(x)))
