"""The one forward of a transformer block with PEFT modules at their sites, for every family.

A pre-norm block computes ``x + DropPath(attn(norm1(x)))`` then ``x + DropPath(ffn(norm2(x)))``;
:class:`PEFTBlockMixin` runs it with the modules a method put at the sites of
:class:`~mmpeft.models.peft.Site` (see :mod:`mmpeft.models.peft.base`). A family's block class
(``PEFTSwinBlock`` for mmdet's Swin) only says how to reach its parts: ``norm1``, ``norm2``,
``drop_path_attn``, ``drop_path_ffn``, :meth:`attn_branch` and :meth:`ffn_branch` (the branches
without their drop-path and skip), :attr:`qkv` and :meth:`set_qkv`, :meth:`width` and
``with_cp``.
"""
from typing import Dict, Iterable, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from mmpeft.models.peft import PEFTModule, Site, peft_module_class


class PEFTBlockMixin:
    """Site bookkeeping and the site-aware forward of a transformer block (see the module
    docstring for what the block class provides)."""
    peft_sites: Dict[str, str]
    with_cp: bool
    norm1: nn.Module
    norm2: nn.Module
    drop_path_attn: nn.Module
    drop_path_ffn: nn.Module

    # ------------------------------------------------------------------ what a family provides
    def attn_branch(self, h: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """The attention branch on the normed tokens, without its drop-path."""
        raise NotImplementedError

    def ffn_branch(self, h: torch.Tensor) -> torch.Tensor:
        """The FFN branch on the normed tokens, without its drop-path and skip."""
        raise NotImplementedError

    @property
    def qkv(self) -> nn.Linear:
        """The attention's packed q/k/v projection."""
        raise NotImplementedError

    def set_qkv(self, module: nn.Module) -> None:
        """Replace the attention's q/k/v projection by ``module``."""
        raise NotImplementedError

    def width(self) -> int:
        """The block's token channels."""
        return self.norm1.normalized_shape[0]

    def run_module(self, module: PEFTModule, x: torch.Tensor,
                   hw_shape: Sequence[int]) -> torch.Tensor:
        """Apply a block-site module to the stream ``x`` (families with extra tokens route them)."""
        return module(x, hw_shape)

    def run_module_with_norm(self, module: PEFTModule, x: torch.Tensor, hw_shape: Sequence[int],
                             norm: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(y, norm(y))`` with ``y`` = :meth:`run_module` (see
        :meth:`~mmpeft.models.peft.PEFTModule.forward_with_norm`)."""
        return module.forward_with_norm(x, hw_shape, norm)

    def detach_ffn_drop_path(self) -> None:
        """Move the drop-path out of mmcv's ``FFN`` (``ffn.dropout_layer``, with its identity
        add off) into the block (``drop_path_ffn``)."""
        self.drop_path_ffn, self.ffn.dropout_layer = self.ffn.dropout_layer, nn.Identity()
        self.ffn.add_identity = False

    # ------------------------------------------------------------------ sites
    def site_target(self, site: str):
        """What a method's module at ``site`` is built from (see
        :meth:`~mmpeft.models.peft.PEFTModule.build_at`): the Linear it wraps, or the width."""
        return self.qkv if site == Site.QKV else self.width()

    def add_module_at(self, site: str, name: Optional[str], module: nn.Module) -> None:
        """Attach ``module`` as ``self.<name>`` at ``site``; a ``QKV`` module replaces the
        attention's ``qkv`` Linear (``name`` is ignored)."""
        if site == Site.QKV:
            self.set_qkv(module)
            return
        if site not in Site.ALL:
            raise ValueError(f'unknown site {site!r}; one of {Site.ALL}')
        if site in self.peft_sites:
            raise ValueError(f'site {site!r} already holds {self.peft_sites[site]!r}')
        self.add_module(name, module)
        self.peft_sites[site] = name

    def at(self, site: str) -> Optional[PEFTModule]:
        """The module at ``site`` (None if there is none)."""
        name = self.peft_sites.get(site)
        return None if name is None else getattr(self, name)

    def _seq(self, site: str, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        module = self.at(site)
        return x if module is None else self.run_module(module, x, hw_shape)

    def _add_bypass(self, site: str, x: torch.Tensor, h: torch.Tensor, hw_shape: Sequence[int],
                    drop_path: nn.Module) -> torch.Tensor:
        """``x + DropPath(m(h))`` with the module at a ``*_BYPASS`` site (a drop-path draw of
        its own, at the branch's rate); ``x`` without one."""
        module = self.at(site)
        return x if module is None else x + drop_path(self.run_module(module, h, hw_shape))

    # ------------------------------------------------------------------ forward
    def peft_forward(self, x: torch.Tensor, hw_shape: Sequence[int],
                     pending: Optional[PEFTModule] = None, defer: bool = False) -> torch.Tensor:
        """The block with its modules. ``pending``: the previous block's ``FFN_RESIDUAL`` module,
        still to apply to ``x`` (together with this block's ``norm1``); ``defer``: return the
        output before this block's ``FFN_RESIDUAL`` module (the next block applies it)."""
        if pending is None:
            identity, h = x, self.norm1(x)
        else:
            identity, h = self.run_module_with_norm(pending, x, hw_shape, self.norm1)
        a = self._seq(Site.ATTN_OUT, self.attn_branch(h, hw_shape), hw_shape)
        a = self._seq(Site.ATTN_OUT_DROPPED, self.drop_path_attn(a), hw_shape)
        x = self._add_bypass(Site.ATTN_BYPASS, identity + a, h, hw_shape, self.drop_path_attn)
        residual = self.at(Site.ATTN_RESIDUAL)
        if residual is None:
            h = self.norm2(x)
        else:
            x, h = self.run_module_with_norm(residual, x, hw_shape, self.norm2)
        f = self._seq(Site.FFN_OUT, self.ffn_branch(h), hw_shape)
        out = x + self._seq(Site.FFN_OUT_DROPPED, self.drop_path_ffn(f), hw_shape)
        out = self._add_bypass(Site.FFN_BYPASS, out, h, hw_shape, self.drop_path_ffn)
        parallel = self.at(Site.FFN_PARALLEL)
        if parallel is not None:
            out = out + self.run_module(parallel, x, hw_shape)
        return out if defer else self._seq(Site.FFN_RESIDUAL, out, hw_shape)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int],
                pending: Optional[PEFTModule] = None, defer: bool = False) -> torch.Tensor:
        """:meth:`peft_forward`, recomputed in backward with ``self.with_cp`` (non-reentrant, so
        the PEFT parameters get gradients even if ``x`` does not require them)."""
        if self.with_cp and torch.is_grad_enabled():
            return cp.checkpoint(self.peft_forward, x, hw_shape, pending, defer,
                                 use_reentrant=False)
        return self.peft_forward(x, hw_shape, pending, defer)


def run_blocks(blocks: Sequence[PEFTBlockMixin], x: torch.Tensor,
               hw_shape: Sequence[int]) -> torch.Tensor:
    """Run ``blocks`` in turn. When a block's ``FFN_RESIDUAL`` module
    :meth:`~mmpeft.models.peft.PEFTModule.defers_to_next_norm` (Mona with ``with_cp``), the next
    block applies it together with its ``norm1``, so that module's output is not stored for
    backward. Same function and gradients either way."""
    pending = None
    for i, block in enumerate(blocks):
        last = block.at(Site.FFN_RESIDUAL)
        defer = i + 1 < len(blocks) and last is not None and last.defers_to_next_norm()
        x = block(x, hw_shape, pending, defer)
        pending = last if defer else None
    return x


def insert_method(blocks: Iterable, method: dict) -> None:
    """Put the modules of ``method`` (``dict(type=NAME, **settings)``) into every block, at the
    sites the method declares. A block provides ``site_target(site)`` and
    ``add_module_at(site, name, module)`` (:class:`PEFTBlockMixin`, or a CNN block such as
    :class:`~mmpeft.models.backbones.peft_resnet.PEFTBottleneck`)."""
    cfg = dict(method)
    cls = peft_module_class(cfg)
    cfg.pop('type')
    for block in blocks:
        for name, site in cls.placements(cfg):
            target = block.site_target(site)
            block.add_module_at(site, name, cls.build_at(site, target, cfg))
