"""Adapter and AdaptFormer: bottleneck MLPs in each transformer block (the Mona paper's baselines).

Both are ``project2(dropout(gelu(project1(x))))`` with a 64-wide bottleneck; they differ in where
they sit and in their skip:

* :class:`Adapter` (sequential, Houlsby-style) adds its own skip, ``x + mlp(x)``, and sits on the
  attention and the FFN branch (``adapter1``, ``adapter2``);
* :class:`AdaptFormer` (parallel) returns ``scale * mlp(x)`` (``scale`` = 0.1, fixed), added beside
  the FFN to the block output, fed the stream after the attention residual (``adapter``).

The two reference codebases differ for the Adapter, selected by ``reference``:

* ``'mona'`` (official Mona repo, used for COCO, ADE20K and VOC): the adapters act on the branch
  *before* its drop-path, and their Linears start trunc-normal (std 0.02, bias 0), as its
  ``init_weights`` sets every Linear;
* ``'star'`` (STAR-MMRotate, used for DOTA): *after* the drop-path (so a dropped sample still gets
  ``mlp(0)``, and the adapter sees the 1/keep-prob scaled branch), PyTorch's default Linear init.

AdaptFormer has the same placement in both; ``reference`` only selects the init.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_init

from mmpeft.models.utils.validate import check_int
from mmpeft.registry import register_peft_module

from .base import Insertion, PEFTModule, Site

REFERENCES = ('mona', 'star')


class BottleneckMLP(PEFTModule):
    """``project2(dropout(gelu(project1(x))))``, C -> ``inner_dims`` -> C (exact GELU)."""

    def __init__(self, in_dims: int, inner_dims: int = 64, dropout: float = 0.1,
                 reference: str = 'mona', init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        in_dims = check_int(name, 'in_dims', in_dims, 1)
        inner_dims = check_int(name, 'inner_dims', inner_dims, 1)
        if reference not in REFERENCES:
            raise ValueError(f"{name}: reference must be one of {REFERENCES}, got {reference!r}")
        self.in_dims, self.inner_dims, self.reference = in_dims, inner_dims, reference
        self.project1 = nn.Linear(in_dims, inner_dims)
        self.nonlinear = nn.GELU()
        self.dropout = nn.Dropout(p=dropout)
        self.project2 = nn.Linear(inner_dims, in_dims)
        if reference == 'mona':
            trunc_normal_init(self.project1, std=0.02, bias=0.)
            trunc_normal_init(self.project2, std=0.02, bias=0.)

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self.project2(self.dropout(self.nonlinear(self.project1(x))))

    def extra_repr(self) -> str:
        return (f'in_dims={self.in_dims}, inner_dims={self.inner_dims}, '
                f'reference={self.reference!r}')


@register_peft_module
class Adapter(BottleneckMLP):
    """Sequential bottleneck adapter ``x + project2(dropout(gelu(project1(x))))`` on the attention
    and the FFN branch of every block (``adapter1``, ``adapter2``); before their drop-path with
    ``reference='mona'`` (default), after it with ``reference='star'`` (see the module docstring).

    Parameters: ``2 * (129 * C + 64)`` per block for ``inner_dims=64`` (Swin-B 3,107,328).
    """
    SITES = {'mona': (Site.ATTN_OUT, Site.FFN_OUT),
             'star': (Site.ATTN_OUT_DROPPED, Site.FFN_OUT_DROPPED)}
    insertions = (('adapter1', Site.ATTN_OUT), ('adapter2', Site.FFN_OUT))

    @classmethod
    def placements(cls, cfg: dict) -> Sequence[Insertion]:
        reference = cfg.get('reference', 'mona')
        if reference not in cls.SITES:
            raise ValueError(f'Adapter: reference must be one of {REFERENCES}, got {reference!r}')
        attn, ffn = cls.SITES[reference]
        return (('adapter1', attn), ('adapter2', ffn))

    def forward(self, x: torch.Tensor, hw_shape: Optional[Sequence[int]] = None) -> torch.Tensor:
        return x + self.mlp(x)


@register_peft_module
class AdaptFormer(BottleneckMLP):
    """Parallel adapter (AdaptFormer): ``scale * project2(dropout(gelu(project1(x))))`` added to
    the block output beside the FFN, fed the stream after the attention residual (``adapter``).

    Parameters: ``129 * C + 64`` per block for ``inner_dims=64`` (Swin-B 1,553,664).

    Args:
        scale: the fixed (not learned) output scale, 0.1 in the reference code.
    """
    insertions = (('adapter', Site.FFN_PARALLEL), )

    def __init__(self, in_dims: int, inner_dims: int = 64, dropout: float = 0.1,
                 scale: float = 0.1, reference: str = 'mona',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(in_dims, inner_dims, dropout, reference, init_cfg)
        self.scale = float(scale)

    def forward(self, x: torch.Tensor, hw_shape: Optional[Sequence[int]] = None) -> torch.Tensor:
        return self.mlp(x) * self.scale
