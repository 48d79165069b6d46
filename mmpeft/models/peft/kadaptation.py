"""KAdaptation: Kronecker adaptation of q and v (He et al., AAAI 2023, arXiv 2203.16329), as the
CoLin repository's Swin (``swin_kadaption.py``), with three fixes of that code.

The q and v parts of each attention's ``qkv`` get ``dq = s * x H_q + b``, ``dv = s * x H_v + b``
(``x``: the ``qkv`` input, ``s`` = 160 = alpha 128 / 4 * 5), with ``H = sum_{i<32} R_i (x) W_i``
(Kronecker products, C x C), ``W_i = l_i r_i^T`` the block's own rank-1 (C/32 x C/32) factors
(``{q,v}_proj_{l,r}_kadaption``), the "rules" ``R_i = l_i r_i`` (32 x 32, rank 1) shared by every
block of the backbone (:class:`KAdaptationRules`, ``peft_shared``; random U(-0.01, 0.01), frozen
but saved with the method) and ``b`` (C) shared by q and v of a block (zero, frozen). Dropout 0.5
on ``H`` in training. Trainable: the q/v factors, ``4 C`` per block: Swin-B 48,128, Swin-L 72,192,
ViT-B 36,864.

Fixed here (the released code is wrong; ``configs/README.md`` lists it):

* init: the released code zeroes both factors, so ``W = 0`` and every gradient is zero: it never
  trains. Here ``l`` starts at zero (the update starts at zero) and ``r`` glorot-uniform per
  slice (bound ``sqrt(6 / (1 + C / 32))``), so ``l`` gets gradients from the first step.
* heads: the released code adds ``dq.reshape(q.shape)`` to the (B, heads, N, d) q, mixing tokens
  with heads; here the update is added to the q/v slots of the ``qkv`` output, split into heads as
  ``qkv`` is.
* what trains: the q/v factors (the released optimizer filter's ``kadaption``), which do train now.

Re-parameterisable: ``qkv.weight[q] += s H_q^T``, ``qkv.bias[q] += b`` (same for v).
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn

from mmpeft.models.utils.validate import check_int
from mmpeft.registry import register_peft_module

from .base import PEFTModule, Site
from .wrapping import WrappingModule

SLOTS = ('q', 'v')


class KAdaptationRules(PEFTModule):
    """The Kronecker rules shared by all blocks: ``phm_rule{q,v}_l`` (n, n, 1) and
    ``phm_rule{q,v}_r`` (n, 1, n), uniform in (-0.01, 0.01); frozen unless ``train_rules``."""

    def __init__(self, n: int = 32, train_rules: bool = False) -> None:
        super().__init__()
        self.n = check_int('KAdaptation', 'n', n, 1)
        self.train_rules = bool(train_rules)
        for slot in SLOTS:
            for side, shape in (('l', (n, n, 1)), ('r', (n, 1, n))):
                p = nn.Parameter(torch.empty(shape))
                nn.init.uniform_(p, -0.01, 0.01)
                self.register_parameter(f'phm_rule{slot}_{side}', p)

    def is_peft_param(self, name: str) -> bool:
        return self.train_rules

    def holds_pretrained(self, name: str) -> bool:
        return False

    def rule(self, slot: str) -> torch.Tensor:
        """``(n, n, n)``: the n rank-1 rules of ``slot``."""
        return getattr(self, f'phm_rule{slot}_l') @ getattr(self, f'phm_rule{slot}_r')


@register_peft_module
class KAdaptation(WrappingModule):
    """An attention's ``qkv`` Linear with the Kronecker update of q and v.

    Args:
        layer: the frozen packed ``qkv`` ``nn.Linear`` (C -> 3C).
        shared: the backbone's :class:`KAdaptationRules`.
        index: the block's index (unused: every block has the same rules).
        n: the number of Kronecker terms (32; C must be a multiple).
        scale: s (reference: alpha 128 / 4 * 5 = 160).
        dropout: dropout on ``H`` (reference 0.5).
        train_rules: also train the rules (PEViT's variant; not the CoLin repo's).
    """
    insertions = ((None, Site.QKV), )
    shares = 'all'

    def __init__(self, layer: nn.Linear, shared: KAdaptationRules, index: int = 0, n: int = 32,
                 scale: float = 160.0, dropout: float = 0.5, train_rules: bool = False) -> None:
        super().__init__(layer)
        width = self.in_features
        if self.kind != 'Linear' or self.out_features != 3 * width:
            raise TypeError(f'KAdaptation wraps a packed qkv Linear C -> 3C, got {self.kind} '
                            f'{self.layer_args}')
        if shared.n != n or width % n:
            raise ValueError(f'KAdaptation: the width {width} must be a multiple of n={n} '
                             f'(shared rules: n={shared.n})')
        self.n, self.scale, self.index = n, float(scale), index
        self.use_shared(shared)
        d = width // n
        bound = math.sqrt(6.0 / (1 + d))
        for slot in SLOTS:
            left = nn.Parameter(torch.zeros(n, d, 1))
            right = nn.Parameter(torch.empty(n, 1, d))
            nn.init.uniform_(right, -bound, bound)
            self.register_parameter(f'{slot}_proj_l_kadaption', left)
            self.register_parameter(f'{slot}_proj_r_kadaption', right)
        self.b = nn.Parameter(torch.zeros(width))
        self.kdropout = nn.Dropout(dropout)

    @classmethod
    def build_shared(cls, width: int, depth: int, cfg: dict) -> KAdaptationRules:
        return KAdaptationRules(cfg.get('n', 32), cfg.get('train_rules', False))

    def is_peft_param(self, name: str) -> bool:
        """The q/v factors train; ``b`` stays zero (frozen, as released)."""
        return name.endswith('_kadaption')

    def kron_matrix(self, slot: str) -> torch.Tensor:
        """``H`` of ``slot`` (C x C, the update is ``x @ H``)."""
        w = getattr(self, f'{slot}_proj_l_kadaption') @ getattr(self, f'{slot}_proj_r_kadaption')
        rule = self.shared.rule(slot)
        c = self.in_features
        return torch.einsum('iac,ikp->akcp', rule, w).reshape(c, c)

    def adapted(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.layer(x).chunk(3, dim=-1)
        q = q + x @ self.kdropout(self.kron_matrix('q')) * self.scale + self.b
        v = v + x @ self.kdropout(self.kron_matrix('v')) * self.scale + self.b
        return torch.cat([q, k, v], dim=-1)

    def merged_params(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        zero = torch.zeros_like(self.kron_matrix('q'))
        delta = torch.cat([self.kron_matrix('q').t(), zero, self.kron_matrix('v').t()], dim=0)
        b = torch.cat([self.b, torch.zeros_like(self.b), self.b])
        bias = b if self.bias is None else self.bias + b
        return self.weight + delta * self.scale, bias
