"""FacT: factor-tuning (Jie & Deng, AAAI 2023, arXiv 2212.03145), tensor-train (``mode='tt'``)
and Tucker (``mode='tk'``) formats, as ``JieShibo/PETL-ViT`` (``FacT/fact_tt.py``,
``fact_tk.py``).

The updates of every Linear of a block (``qkv``, the attention's ``proj``, the FFN's ``fc1`` and
``fc2``) are factorised through two matrices shared by all the blocks, ``U`` (``FacTu``, C -> r) and
``V`` (``FacTv``, r -> C, zero at start), and a small core per slot: ``layer(x) + s * V(dp(U(x) @
M))`` with dropout ``dp`` (0.1) on the r-dim code. ``qkv`` gets one r x r core each for q, k and v;
``fc1`` one r x 4r core whose four r-chunks each give one C-chunk of the 4C output; ``fc2`` maps
the four C-chunks of its input through ``U`` and one 4r x r core.

* TT: the cores are the blocks' own (``q_FacTs`` ... ``fc2_FacTs``, ``nn.Linear`` without bias):
  ``12 r^2`` per block.
* TK: the cores are slices of one shared ``FacTc`` (r x r x r) contracted with 12 columns per block
  of a shared ``FacTp`` (r x 12 * depth): ``q, k, v, proj, fc1 x 4, fc2 x 4`` in that order.

Sharing: one ``U``/``V`` (TK: and one ``FacTc``/``FacTp``) per stage of blocks of one width
(:class:`FacTShared`, owned by the backbone as ``peft_shared``): a ViT is one stage; Swin's four
stages each get their own (no Swin reference exists; widths differ per stage). Trainable with
r = 8: Swin-B TT 49,152 / TK 35,072, Swin-L TT 64,512 / TK 50,432, ViT-B/16 TT 21,504 / TK 13,952.

Re-parameterisable: in eval mode the update of each Linear is a fixed matrix (``s V M^T U`` per
slot or chunk), folded into its weight by :meth:`FacT.merge` / :meth:`FacT.fold_into`.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn

from mmpeft.models.utils.validate import check_int
from mmpeft.registry import register_peft_module

from .base import PEFTModule, Site
from .wrapping import WrappingModule

MODES = ('tt', 'tk')
#: TK: the first of the block's 12 columns of ``FacTp`` that each site's cores use, and how many
_TK_COLUMNS = {Site.QKV: (0, 3), Site.PROJ: (3, 1), Site.FC1: (4, 4), Site.FC2: (8, 4)}
_TT_CORES = {Site.QKV: ('q_FacTs', 'k_FacTs', 'v_FacTs'), Site.PROJ: ('proj_FacTs', ),
             Site.FC1: ('fc1_FacTs', ), Site.FC2: ('fc2_FacTs', )}


class FacTShared(PEFTModule):
    """FacT's parameters shared by the blocks of one stage: ``FacTu`` (C -> r, PyTorch's Linear
    init), ``FacTv`` (r -> C, zero) and, in TK, ``FacTc`` (r x r x r) and ``FacTp``
    (r x 12 * depth), both xavier-uniform."""

    def __init__(self, width: int, depth: int, rank: int = 8, mode: str = 'tt') -> None:
        super().__init__()
        self.rank = check_int('FacT', 'rank', rank, 1)
        self.mode = mode
        self.FacTu = nn.Linear(width, rank, bias=False)
        self.FacTv = nn.Linear(rank, width, bias=False)
        nn.init.zeros_(self.FacTv.weight)
        if mode == 'tk':
            self.FacTc = nn.Parameter(torch.empty(rank, rank, rank))
            self.FacTp = nn.Parameter(torch.empty(rank, 12 * depth))
            nn.init.xavier_uniform_(self.FacTc)
            nn.init.xavier_uniform_(self.FacTp)

    def tk_cores(self, start: int, count: int) -> torch.Tensor:
        """``(r, r, count)`` cores: ``FacTc`` contracted with ``FacTp[:, start:start + count]``."""
        return self.FacTc @ self.FacTp[:, start:start + count]


@register_peft_module
class FacT(WrappingModule):
    """One Linear of a block (``qkv``, ``proj``, ``fc1`` or ``fc2``) with its FacT update.

    Args:
        layer: the frozen ``nn.Linear`` it replaces (its ``weight``/``bias`` are kept).
        site: which Linear (``Site.QKV``, ``PROJ``, ``FC1``, ``FC2``).
        shared: the stage's :class:`FacTShared`.
        index: the block's index in its stage (TK: its columns of ``FacTp``).
        mode: ``'tt'`` or ``'tk'``.
        rank: r (reference default 8).
        scale: s (reference default 1).
        dropout: dropout on the r-dim code (reference 0.1).
    """
    insertions = ((None, Site.QKV), (None, Site.PROJ), (None, Site.FC1), (None, Site.FC2))
    shares = 'stage'

    def __init__(self, layer: nn.Linear, site: str, shared: FacTShared, index: int,
                 mode: str = 'tt', rank: int = 8, scale: float = 1.0,
                 dropout: float = 0.1) -> None:
        super().__init__(layer)
        if self.kind != 'Linear' or site not in _TT_CORES:
            raise TypeError(f'FacT wraps the Linear at {tuple(_TT_CORES)}, got a {self.kind} at '
                            f'{site!r}')
        if shared.mode != mode or shared.rank != rank:
            raise ValueError(f'FacT: the shared parameters are {shared.mode} rank '
                             f'{shared.rank}, the module {mode} rank {rank}')
        self.site, self.mode, self.rank = site, mode, rank
        self.index = check_int('FacT', 'index', index, 0)
        self.scale = float(scale)
        self.use_shared(shared)
        width = shared.FacTu.in_features
        shape = (self.in_features, self.out_features)
        expected = {Site.QKV: (width, 3 * width), Site.PROJ: (width, width),
                    Site.FC1: (width, 4 * width), Site.FC2: (4 * width, width)}[site]
        if shape != expected:
            raise ValueError(f'FacT at {site!r}: expected a Linear {expected[0]} -> '
                             f'{expected[1]} for width {width} (FacT needs an FFN ratio of 4), '
                             f'got {shape[0]} -> {shape[1]}')
        self.dp = nn.Dropout(dropout)
        if mode == 'tt':
            r = rank
            sizes = {Site.FC1: (r, 4 * r), Site.FC2: (4 * r, r)}.get(site, (r, r))
            for name in _TT_CORES[site]:
                self.add_module(name, nn.Linear(*sizes, bias=False))

    @classmethod
    def placements(cls, cfg: dict):
        mode = cfg.get('mode', 'tt')
        if mode not in MODES:
            raise ValueError(f"FacT: mode must be one of {MODES}, got {mode!r}")
        return cls.insertions

    @classmethod
    def build_shared(cls, width: int, depth: int, cfg: dict) -> FacTShared:
        return FacTShared(width, depth, rank=cfg.get('rank', 8), mode=cfg.get('mode', 'tt'))

    @classmethod
    def build_at(cls, site: str, target: nn.Module, cfg: dict) -> 'FacT':
        return cls(target, site=site, **cfg)

    # ------------------------------------------------------------------ the update
    def cores(self) -> List[torch.Tensor]:
        """The site's cores ``M`` (the code is ``U(x) @ M``): r x r per qkv slot and for proj,
        r x 4r for fc1, 4r x r for fc2."""
        r = self.rank
        if self.mode == 'tt':
            return [getattr(self, name).weight.t() for name in _TT_CORES[self.site]]
        start, count = _TK_COLUMNS[self.site]
        c = self.shared.tk_cores(12 * self.index + start, count)
        if self.site == Site.FC1:
            return [c.reshape(r, 4 * r)]
        if self.site == Site.FC2:
            return [c.reshape(r, 4 * r).t()]
        return list(c.unbind(-1))

    def update(self, x: torch.Tensor) -> torch.Tensor:
        """The scaled update of the layer's output for its input ``x``."""
        u, v = self.shared.FacTu, self.shared.FacTv
        cores = self.cores()
        if self.site == Site.FC2:
            chunks = u(x.unflatten(-1, (4, -1))).flatten(-2)
            return v(self.dp(chunks @ cores[0])) * self.scale
        code = u(x)
        if self.site == Site.FC1:
            out = v(self.dp(code @ cores[0]).unflatten(-1, (4, self.rank)))
            return out.flatten(-2) * self.scale
        return torch.cat([v(self.dp(code @ m)) for m in cores], dim=-1) * self.scale

    def adapted(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x) + self.update(x)

    def delta_weight(self) -> torch.Tensor:
        """The update as an ``(out_features, in_features)`` matrix (eval mode: no dropout)."""
        uw, vw, r = self.shared.FacTu.weight, self.shared.FacTv.weight, self.rank
        cores = self.cores()
        if self.site == Site.FC1:
            parts = [vw @ cores[0][:, j * r:(j + 1) * r].t() @ uw for j in range(4)]
            return torch.cat(parts, dim=0) * self.scale
        if self.site == Site.FC2:
            parts = [vw @ cores[0][j * r:(j + 1) * r].t() @ uw for j in range(4)]
            return torch.cat(parts, dim=1) * self.scale
        return torch.cat([vw @ m.t() @ uw for m in cores], dim=0) * self.scale

    def merged_params(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self.weight + self.delta_weight(), self.bias

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, site={self.site}, mode={self.mode}, '
                f'rank={self.rank}, index={self.index}, scale={self.scale}')
