"""LoRA on the packed q/k/v projection of an attention (Hu et al., 2021), as the Mona paper's
baseline: loralib's ``MergedLinear`` with rank 64, alpha 1 (scaling 1/64) on q and v.

The update of each enabled slot (q, k or v, ``out_features / 3`` rows each) is ``B_s @ A_s`` with
``A_s`` a ``(rank, in)`` block of ``lora_A`` and ``B_s`` an ``(out / 3, rank)`` block of ``lora_B``
(in slot order), times ``alpha / rank``; ``A`` starts kaiming-uniform (a = sqrt(5)), ``B`` at zero,
so the layer starts as the pretrained Linear.

Merging is explicit: :meth:`LoRA.merge` folds the update into ``weight`` for inference and
:meth:`LoRA.unmerge` takes it out again. The state dict is the same either way (the unmerged
``weight`` and the LoRA factors), so a checkpoint never depends on whether the layer was merged; a
merged layer refuses to train. (The reference merges silently in ``eval()``, in place, and an
eval-mode state dict then holds the merged weight.)
"""
import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmpeft.models.utils.validate import check_int
from mmpeft.registry import register_peft_module

from .base import PEFTModule, Site

SLOTS = ('q', 'k', 'v')


@register_peft_module
class LoRA(PEFTModule):
    """A packed ``qkv`` Linear (frozen ``weight``/``bias``, the pretrained names) plus a low-rank
    update of the ``targets`` slots; replaces the attention's ``qkv`` (``Site.QKV``).

    Parameters: ``2 * rank * (in + out / 3)`` per layer for two targets (Swin-B, rank 64:
    3,080,192 in all).

    Args:
        in_features, out_features, bias: the Linear's shape (``out_features`` = 3 x width).
        rank: r, the rank of each slot's update.
        alpha: the update is scaled by ``alpha / rank``.
        dropout: dropout on the input of the update (loralib's ``lora_dropout``).
        targets: the slots that get an update, in ``('q', 'k', 'v')``.
    """
    insertions = ((None, Site.QKV), )
    mergeable = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rank: int = 64,
                 alpha: float = 1.0, dropout: float = 0.0,
                 targets: Sequence[str] = ('q', 'v')) -> None:
        super().__init__()
        self.in_features = check_int('LoRA', 'in_features', in_features, 1)
        self.out_features = check_int('LoRA', 'out_features', out_features, 3)
        self.rank = check_int('LoRA', 'rank', rank, 1)
        if self.out_features % 3:
            raise ValueError(f'LoRA: out_features must be 3 x the width (packed q, k, v), got '
                             f'{out_features}')
        targets = tuple(targets)
        if not targets or not set(targets) <= set(SLOTS) or len(set(targets)) != len(targets):
            raise ValueError(f'LoRA: targets must be distinct names from {SLOTS}, got {targets}')
        self.slots = tuple(SLOTS.index(t) for t in sorted(targets, key=SLOTS.index))
        self.alpha = float(alpha)
        self.scaling = self.alpha / self.rank
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.lora_A = nn.Parameter(torch.empty(self.rank * len(self.slots), in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features // 3 * len(self.slots), self.rank))
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.merged = False

    @classmethod
    def build_at(cls, site: str, target: nn.Linear, cfg: dict) -> 'LoRA':
        """A LoRA layer over the Linear ``target``, sharing its weight and bias parameters."""
        if site != Site.QKV or not isinstance(target, nn.Linear):
            raise TypeError(f'LoRA replaces an nn.Linear at {Site.QKV!r}, got {site!r}, '
                            f'{type(target).__name__}')
        layer = cls(target.in_features, target.out_features, target.bias is not None, **cfg)
        layer.weight = target.weight
        layer.bias = target.bias
        return layer

    def is_peft_param(self, name: str) -> bool:
        """Only the LoRA factors train; ``weight`` and ``bias`` are the pretrained Linear's."""
        return name.startswith('lora_')

    # ------------------------------------------------------------------ the update
    def _update(self, x: torch.Tensor) -> torch.Tensor:
        """The scaled low-rank update of ``x``, ``(..., out_features)`` (0 in the other slots)."""
        width, r = self.out_features // 3, self.rank
        a = F.linear(self.lora_dropout(x), self.lora_A)
        parts = [x.new_zeros(()).expand(*x.shape[:-1], width)] * 3
        for g, slot in enumerate(self.slots):
            parts[slot] = F.linear(a[..., g * r:(g + 1) * r],
                                   self.lora_B[g * width:(g + 1) * width])
        return torch.cat(parts, dim=-1) * self.scaling

    def delta_weight(self) -> torch.Tensor:
        """The update as a ``(out_features, in_features)`` matrix."""
        width, r = self.out_features // 3, self.rank
        delta = self.weight.new_zeros(self.out_features, self.in_features)
        for g, slot in enumerate(self.slots):
            delta[slot * width:(slot + 1) * width] = (
                self.lora_B[g * width:(g + 1) * width] @ self.lora_A[g * r:(g + 1) * r])
        return delta * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            if self.training and torch.is_grad_enabled():
                raise RuntimeError('this LoRA layer is merged (inference only): call unmerge() '
                                   'before training it')
            return F.linear(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias) + self._update(x)

    # ------------------------------------------------------------------ merging
    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into ``weight`` (inference: one matmul instead of three)."""
        if not self.merged:
            self.weight.add_(self.delta_weight())
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update out of ``weight`` again."""
        if self.merged:
            self.weight.sub_(self.delta_weight())
            self.merged = False

    def fold_into(self, block: nn.Module, site: str) -> None:
        """Fold the update into ``weight``, the frozen ``qkv`` weight of ``block`` (the caller
        puts back a plain Linear holding it)."""
        if site != Site.QKV or getattr(block, 'qkv', None) is not self:
            raise ValueError(f'LoRA folds into the block whose {Site.QKV!r} it is, got site '
                             f'{site!r}')
        self.merge()

    def unwrap(self) -> nn.Linear:
        """The plain ``qkv`` Linear holding this layer's ``weight`` and ``bias`` parameters."""
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                           device='meta')
        linear.weight, linear.bias = self.weight, self.bias
        return linear

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.merged:  # the state dict always holds the unmerged weight
            destination[prefix + 'weight'] = (self.weight - self.delta_weight()).detach()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self.unmerge()  # the loaded weight is an unmerged one
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        targets = ''.join(SLOTS[s] for s in self.slots)
        return (f'in_features={self.in_features}, out_features={self.out_features}, '
                f'rank={self.rank}, alpha={self.alpha}, targets={targets}, merged={self.merged}')


def merge_lora(model: nn.Module, merge: bool = True) -> int:
    """Merge (or, with ``merge=False``, unmerge) every :class:`LoRA` layer of ``model``.

    Returns the number of layers changed.
    """
    changed = 0
    for m in model.modules():
        if isinstance(m, LoRA) and m.merged != merge:
            m.merge() if merge else m.unmerge()
            changed += 1
    return changed
