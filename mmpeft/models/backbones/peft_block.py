"""The one forward of a transformer block with PEFT modules at their sites, for every family.

A pre-norm block computes ``x + DropPath(attn(norm1(x)))`` then ``x + DropPath(ffn(norm2(x)))``;
:class:`PEFTBlockMixin` runs it with the modules a method put at the sites of
:class:`~mmpeft.models.peft.Site` (see :mod:`mmpeft.models.peft.base`). A family's block class
(``PEFTSwinBlock`` for mmdet's Swin) only says how to reach its parts: ``norm1``, ``norm2``,
``drop_path_attn``, ``drop_path_ffn``, :meth:`attn_branch` and :meth:`ffn_branch` (the branches
without their drop-path and skip), :attr:`qkv` and :meth:`set_qkv`, :meth:`width` and
``with_cp``; for the other wrapping sites :attr:`attn_proj` (and, beside mmcv's two-Linear FFN,
:attr:`fc1`/:attr:`fc2`). :func:`insert_method` also fills the patch embedding's sites and builds
a method's shared parameters.

:func:`fold_method` folds a re-parameterisable method into the frozen weights and removes its
modules (:meth:`~mmpeft.models.peft.PEFTModule.fold_into`), leaving the upstream block.
"""
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from mmpeft.models.peft import PEFTModule, Site, peft_module_class


class SiteSlots:
    """The method modules a block (transformer or CNN) holds at its sites: ``peft_sites`` maps a
    site to the attribute name of its module."""
    peft_sites: Dict[str, str]

    def attach_at(self, site: str, name: str, module: nn.Module) -> None:
        """Hold ``module`` as ``self.<name>``, the one module at ``site``."""
        if site in self.peft_sites:
            raise ValueError(f'site {site!r} already holds {self.peft_sites[site]!r}')
        self.add_module(name, module)  # type: ignore[attr-defined]
        self.peft_sites[site] = name

    def at(self, site: str) -> Optional[PEFTModule]:
        """The module at ``site`` (None if there is none)."""
        name = self.peft_sites.get(site)
        return None if name is None else getattr(self, name)


class PEFTBlockMixin(SiteSlots):
    """Site bookkeeping and the site-aware forward of a transformer block (see the module
    docstring for what the block class provides)."""
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
        :meth:`~mmpeft.models.peft.PEFTModule.build_at`): the layer it wraps, or the width."""
        return self.wrapped(site) if site in Site.WRAPPING else self.width()

    def add_module_at(self, site: str, name: Optional[str], module: nn.Module) -> None:
        """Attach ``module`` as ``self.<name>`` at ``site``; a ``QKV`` module replaces the
        attention's ``qkv`` Linear, a module at another wrapping site its layer (``name`` is
        ignored)."""
        if site == Site.QKV:
            self.set_qkv(module)
            return
        if site in Site.WRAPPING:
            self.set_wrapped(site, module)
            return
        if site not in Site.ALL:
            raise ValueError(f'unknown site {site!r}; one of {Site.ALL}')
        self.attach_at(site, name, module)

    def peft_modules(self) -> List[Tuple[str, PEFTModule]]:
        """``(site, module)`` of every method module of the block, those at the wrapping sites
        (``QKV``, ``PROJ``, ...) included."""
        found = [(site, getattr(self, name)) for site, name in self.peft_sites.items()]
        return found + self.wrapping_modules()

    def remove_module_at(self, site: str) -> None:
        """Take the module at ``site`` out of the block; a wrapping-site module gives way to the
        plain layer holding its ``weight`` and ``bias`` parameters (its ``unwrap()``)."""
        if site in Site.WRAPPING:
            self.unwrap_site(site)
            return
        if site not in self.peft_sites:
            raise ValueError(f'no PEFT module at {site!r}')
        delattr(self, self.peft_sites.pop(site))

    def _seq(self, site: str, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        module = self.at(site)
        return x if module is None else self.run_module(module, x, hw_shape)

    # ------------------------------------------------------------------ wrapping sites
    @property
    def attn_proj(self) -> nn.Linear:
        """The attention's output projection."""
        raise NotImplementedError

    @property
    def fc1(self) -> nn.Linear:
        """The FFN's first Linear (mmcv's ``FFN``: ``ffn.layers[0][0]``)."""
        return self._mmcv_ffn().layers[0][0]

    @property
    def fc2(self) -> nn.Linear:
        """The FFN's second Linear (mmcv's ``FFN``: ``ffn.layers[1]``)."""
        return self._mmcv_ffn().layers[1]

    def _mmcv_ffn(self) -> nn.Module:
        ffn = getattr(self, 'ffn', None)
        if ffn is None or getattr(ffn, 'num_fcs', None) != 2:
            raise ValueError(f'{type(self).__name__} has no two-Linear FFN (mmcv FFN, '
                             'num_fcs=2): the fc1/fc2 sites are not available')
        return ffn

    def wrapped(self, site: str) -> nn.Module:
        """The layer (or the module wrapping it) at the wrapping ``site`` of the block."""
        attr = {Site.QKV: 'qkv', Site.PROJ: 'attn_proj', Site.FC1: 'fc1', Site.FC2: 'fc2',
                Site.NORM1: 'norm1', Site.NORM2: 'norm2'}.get(site)
        if attr is None:
            raise ValueError(f'{site!r} is not a wrapping site of a block')
        return getattr(self, attr)

    def set_wrapped(self, site: str, module: nn.Module) -> None:
        """Put ``module`` in the place of the layer at the wrapping ``site``."""
        if site == Site.QKV:
            self.set_qkv(module)
        else:
            replace_submodule(self, self.wrapped(site), module)

    def wrapping_modules(self) -> List[Tuple[str, PEFTModule]]:
        """``(site, module)`` of the method modules at the block's wrapping sites."""
        found = []
        for site in Site.WRAPPING:
            if site in Site.EMBED:
                continue
            try:
                module = self.wrapped(site)
            except ValueError:  # a site the family does not have
                continue
            if isinstance(module, PEFTModule):
                found.append((site, module))
        return found

    def unwrap_site(self, site: str) -> None:
        """Put back the plain layer of the module at the wrapping ``site`` (its ``unwrap()``, see
        :meth:`~mmpeft.models.peft.wrapping.WrappingModule.unwrap`)."""
        module = self.wrapped(site)
        if not isinstance(module, PEFTModule):
            raise ValueError(f'no PEFT module at {site!r}')
        self.set_wrapped(site, module.unwrap())

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


def replace_submodule(root: nn.Module, old: nn.Module, new: nn.Module) -> None:
    """Put ``new`` where ``old`` is in ``root`` (found by identity; same attribute name)."""
    path = next((n for n, m in root.named_modules() if m is old and n), None)
    if path is None:
        raise ValueError(f'{type(old).__name__} is not a submodule of {type(root).__name__}')
    parent, _, name = path.rpartition('.')
    setattr(root.get_submodule(parent) if parent else root, name, new)


def embed_layer(embed: nn.Module, site: str) -> Optional[nn.Module]:
    """The layer of the patch embedding (mmcv/mmdet ``PatchEmbed``) at ``site``: its
    ``projection`` or its ``norm`` (None where it has none)."""
    if site not in Site.EMBED:
        raise ValueError(f'{site!r} is not a patch-embedding site ({Site.EMBED})')
    return getattr(embed, 'projection' if site == Site.PATCH_PROJ else 'norm', None)


def insert_method(blocks: Iterable, method: dict,
                  stage_sizes: Optional[Sequence[int]] = None,
                  embed: Optional[nn.Module] = None) -> Optional[nn.ModuleList]:
    """Put the modules of ``method`` (``dict(type=NAME, **settings)``) into every block, at the
    sites the method declares, and at the patch-embedding sites into ``embed`` (a
    ``PATCH_NORM`` module only where the embedding has a norm).

    ``stage_sizes``: the number of blocks of each stage (blocks of one width; default: one
    stage). Returns the method's shared parameters (see
    :attr:`~mmpeft.models.peft.PEFTModule.shares`) for the backbone to own as ``peft_shared``:
    one set per stage or one for all; None for a method that shares nothing. A block provides
    ``site_target(site)`` and ``add_module_at(site, name, module)`` (:class:`PEFTBlockMixin`, or
    a CNN block such as :class:`~mmpeft.models.backbones.peft_resnet.PEFTBottleneck`).
    """
    cfg = dict(method)
    cls = peft_module_class(cfg)
    cfg.pop('type')
    blocks = list(blocks)
    sizes = [len(blocks)] if stage_sizes is None else [int(n) for n in stage_sizes if n]
    if sum(sizes) != len(blocks):
        raise ValueError(f'stage_sizes {sizes} do not add up to the {len(blocks)} blocks')
    stages, start = [], 0
    for n in sizes:
        stages.append(blocks[start:start + n])
        start += n
    shared = None
    if cls.shares == 'stage':
        shared = nn.ModuleList(cls.build_shared(stage[0].width(), len(stage), cfg)
                               for stage in stages)
    elif cls.shares == 'all':
        shared = nn.ModuleList([cls.build_shared(blocks[0].width(), len(blocks), cfg)])
    elif cls.shares is not None:
        raise ValueError(f"{cls.__name__}.shares must be None, 'stage' or 'all', got "
                         f'{cls.shares!r}')
    placements = cls.placements(cfg)
    for s, stage in enumerate(stages):
        for j, block in enumerate(stage):
            kw = cfg
            if shared is not None:
                one = cls.shares == 'all'
                kw = dict(cfg, shared=shared[0 if one else s],
                          index=(sum(sizes[:s]) + j) if one else j)
            for name, site in placements:
                if site in Site.EMBED:
                    continue
                block.add_module_at(site, name, cls.build_at(site, block.site_target(site), kw))
    embed_sites = [site for _, site in placements if site in Site.EMBED]
    if embed_sites and embed is None:
        raise ValueError(f'{cls.__name__} puts modules in the patch embedding ({embed_sites}), '
                         'which this backbone does not give')
    for site in embed_sites:
        layer = embed_layer(embed, site)
        if layer is not None:
            replace_submodule(embed, layer, cls.build_at(site, layer, cfg))
    return shared


def fold_method(blocks: Iterable[PEFTBlockMixin], embed: Optional[nn.Module] = None) -> int:
    """Fold every method module of ``blocks`` (and of the patch embedding ``embed``) into their
    frozen weights and remove it (:meth:`~mmpeft.models.peft.PEFTModule.fold_into`, then
    :meth:`PEFTBlockMixin.remove_module_at`); the blocks then compute the same function as
    upstream blocks (a wrapping-site module gives way to the plain layer holding its merged
    ``weight``/``bias``). Returns the number of modules folded.

    Raises:
        ValueError: a module's method is not re-parameterisable (nothing is changed then).
    """
    found = [(block, site, module) for block in blocks for site, module in block.peft_modules()]
    embedded = [] if embed is None else [
        (embed, site, m) for site in Site.EMBED
        if isinstance(m := embed_layer(embed, site), PEFTModule)]
    refused = sorted({type(m).__name__ for *_, m in found + embedded if not m.mergeable})
    if refused:
        raise ValueError(f'cannot merge {", ".join(refused)} into the frozen weights: not a '
                         're-parameterisable method (its modules compute what no frozen weight '
                         'can); export it without merging')
    for block, site, module in found:
        module.fold_into(block, site)
        block.remove_module_at(site)
    for _, site, module in embedded:
        module.fold_into(embed, site)
        replace_submodule(embed, module, module.unwrap())
    return len(found) + len(embedded)
