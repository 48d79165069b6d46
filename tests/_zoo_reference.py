"""Test helpers: an independent re-implementation of a Swin with SSF, FacT (TT, TK) or KAdaptation
in the reference codebases' own key layout (Microsoft/timm names: ``layers.i.blocks.j.attn.qkv``,
``mlp.fc1``, SSF's ``ssf_scale_1``, FacT's ``q_FacTs``, KAdaptation's ``q_proj_l_kadaption``),
written from the reference formulas (see ``/work/shared/reference/method_zoo.md``), sharing no
code with mmdet's Swin or mmpeft's methods.

It runs in train mode too, drawing its random numbers in the order mmpeft's blocks do (method
dropouts in the order of their layers, then each branch's drop-path as mmcv's ``DropPath``: one
``torch.rand((B, 1, 1))`` per branch), so that drop-path and dropout masks match under one seed.

Sharing: FacT's ``FacTu``/``FacTv`` (TK: ``FacTc``/``FacTp``) live in each stage
(``layers.i.FacTu``: one FacT per Swin stage), KAdaptation's rules at the root (``phm_ruleq_l``
...), as the CoLin repository keeps them.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from _swin_reference import (
    RefLayer,
    RefMlp,
    RefPatchMerging,
    RefWindowAttention,
    window_partition,
    window_reverse,
)

METHODS = ('ssf', 'fact-tt', 'fact-tk', 'kadaptation')


def ssf_ada(x: torch.Tensor, owner: nn.Module, k: int) -> torch.Tensor:
    return x * getattr(owner, f'ssf_scale_{k}') + getattr(owner, f'ssf_shift_{k}')


def add_ssf(owner: nn.Module, k: int, channels: int) -> None:
    owner.register_parameter(f'ssf_scale_{k}', nn.Parameter(torch.ones(channels)))
    owner.register_parameter(f'ssf_shift_{k}', nn.Parameter(torch.zeros(channels)))


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """mmcv's ``drop_path``: the same random draw."""
    if p == 0 or not training:
        return x
    keep = 1 - p
    mask = (keep + torch.rand((x.shape[0], ) + (1, ) * (x.ndim - 1), dtype=x.dtype)).floor()
    return x.div(keep) * mask


class ZooRefBlock(nn.Module):

    def __init__(self, dim: int, num_heads: int, ws: int, shift: int, method: str,
                 drop_path_rate: float, index: int, rank: int = 8) -> None:
        super().__init__()
        self.dim, self.num_heads, self.ws, self.shift = dim, num_heads, ws, shift
        self.method, self.p, self.index, self.rank = method, drop_path_rate, index, rank
        self.norm1 = nn.LayerNorm(dim)
        self.attn = RefWindowAttention(dim, ws, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = RefMlp(dim, 4 * dim)
        if method == 'ssf':
            for owner, sizes in ((self, (dim, dim)), (self.attn, (3 * dim, dim)),
                                 (self.mlp, (4 * dim, dim))):
                add_ssf(owner, 1, sizes[0])
                add_ssf(owner, 2, sizes[1])
        elif method == 'fact-tt':
            for name in ('q', 'k', 'v', 'proj'):
                setattr(self.attn, f'{name}_FacTs', nn.Linear(rank, rank, bias=False))
            self.mlp.fc1_FacTs = nn.Linear(rank, 4 * rank, bias=False)
            self.mlp.fc2_FacTs = nn.Linear(4 * rank, rank, bias=False)
        elif method == 'kadaptation':
            d = dim // 32
            for s in 'qv':
                setattr(self.attn, f'{s}_proj_l_kadaption', nn.Parameter(torch.zeros(32, d, 1)))
                setattr(self.attn, f'{s}_proj_r_kadaption', nn.Parameter(torch.zeros(32, 1, d)))
            self.attn.b = nn.Parameter(torch.zeros(dim))

    # ---------------------------------------------------------------- FacT / KAdaptation parts
    def fact(self, stage: nn.Module, z: torch.Tensor, core) -> torch.Tensor:
        """``V(dropout(core(code)))``; ``core`` a Linear (TT) or a matrix to right-multiply."""
        h = core(z) if isinstance(core, nn.Module) else z @ core
        return stage.FacTv(F.dropout(h, 0.1, self.training))

    def tk_core(self, stage: nn.Module, start: int, count: int) -> torch.Tensor:
        idx = 12 * self.index + start
        return stage.FacTc @ stage.FacTp[:, idx:idx + count]

    def kron(self, root: nn.Module, s: str) -> torch.Tensor:
        a = self.attn
        rules = torch.bmm(getattr(root, f'phm_rule{s}_l'), getattr(root, f'phm_rule{s}_r'))
        w = torch.bmm(getattr(a, f'{s}_proj_l_kadaption'), getattr(a, f'{s}_proj_r_kadaption'))
        return sum(torch.kron(rules[i], w[i]) for i in range(rules.shape[0]))

    # ---------------------------------------------------------------- branches
    def attention(self, x: torch.Tensor, mask: Optional[torch.Tensor], stage: nn.Module,
                  root: nn.Module) -> torch.Tensor:
        a, m = self.attn, self.method
        b_, n, c = x.shape
        heads = self.num_heads
        qkv = F.linear(x, a.qkv.weight, a.qkv.bias)
        if m == 'ssf':
            qkv = ssf_ada(qkv, a, 1)
        elif m == 'fact-tt':
            u = stage.FacTu(x)
            qkv = qkv + torch.cat([self.fact(stage, u, getattr(a, f'{s}_FacTs'))
                                   for s in 'qkv'], dim=2)
        elif m == 'fact-tk':
            core = self.tk_core(stage, 0, 4)
            u = stage.FacTu(x)
            qkv = qkv + torch.cat([self.fact(stage, u, core[:, :, i]) for i in range(3)], dim=2)
        q, k, v = qkv.reshape(b_, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        if m == 'kadaptation':  # the intended head split: as qkv's
            split = lambda t: t.reshape(b_, n, heads, c // heads).permute(0, 2, 1, 3)  # noqa
            q = q + split(x @ F.dropout(self.kron(root, 'q'), 0.5, self.training) * 160 + a.b)
            v = v + split(x @ F.dropout(self.kron(root, 'v'), 0.5, self.training) * 160 + a.b)
        attn = (q * a.scale) @ k.transpose(-2, -1)
        bias = a.relative_position_bias_table[a.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b_ // nw, nw, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, n, n)
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b_, n, c)
        proj = F.linear(out, a.proj.weight, a.proj.bias)
        if m == 'ssf':
            proj = ssf_ada(proj, a, 2)
        elif m == 'fact-tt':
            proj = proj + self.fact(stage, stage.FacTu(out), a.proj_FacTs)
        elif m == 'fact-tk':
            proj = proj + self.fact(stage, stage.FacTu(out), self.tk_core(stage, 3, 1)[:, :, 0])
        return proj

    def ffn(self, x: torch.Tensor, stage: nn.Module) -> torch.Tensor:
        mlp, m, r = self.mlp, self.method, self.rank
        b, n, c = x.shape
        h = mlp.fc1(x)
        if m == 'ssf':
            h = ssf_ada(h, mlp, 1)
        elif m.startswith('fact'):
            u = stage.FacTu(x)
            if m == 'fact-tt':
                code = mlp.fc1_FacTs(u)
            else:
                code = u @ self.tk_core(stage, 4, 4).reshape(r, 4 * r)
            code = F.dropout(code, 0.1, self.training).reshape(b, n, 4, r)
            h = h + stage.FacTv(code).reshape(b, n, 4 * c)
        a = F.gelu(h)
        out = mlp.fc2(a)
        if m == 'ssf':
            out = ssf_ada(out, mlp, 2)
        elif m.startswith('fact'):
            chunks = stage.FacTu(a.reshape(b, n, 4, c)).reshape(b, n, 4 * r)
            core = mlp.fc2_FacTs if m == 'fact-tt' else self.tk_core(stage, 8, 4).reshape(
                r, 4 * r).t()
            out = out + self.fact(stage, chunks, core)
        return out

    def forward(self, x: torch.Tensor, h: int, w: int, mask: torch.Tensor, stage: nn.Module,
                root: nn.Module) -> torch.Tensor:
        b, _, c = x.shape
        ws = self.ws
        shortcut = x
        x = self.norm1(x)
        if self.method == 'ssf':
            x = ssf_ada(x, self, 1)
        x = x.view(b, h, w, c)
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = x.shape[1], x.shape[2]
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, ws).view(-1, ws * ws, c)
        windows = self.attention(windows, mask if self.shift else None, stage, root)
        x = window_reverse(windows.view(-1, ws, ws, c), ws, hp, wp)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x[:, :h, :w, :].reshape(b, h * w, c)
        x = shortcut + drop_path(x, self.p, self.training)
        y = self.norm2(x)
        if self.method == 'ssf':
            y = ssf_ada(y, self, 2)
        return x + drop_path(self.ffn(y, stage), self.p, self.training)


class ZooRefLayer(RefLayer):

    def __init__(self, dim: int, depth: int, num_heads: int, ws: int, downsample: bool,
                 method: str, dprs: Sequence[float], rank: int = 8) -> None:
        nn.Module.__init__(self)
        self.ws = ws
        self.blocks = nn.ModuleList(
            ZooRefBlock(dim, num_heads, ws, 0 if i % 2 == 0 else ws // 2, method, dprs[i], i,
                        rank) for i in range(depth))
        self.downsample = RefPatchMerging(dim) if downsample else None
        if method.startswith('fact'):
            self.FacTu = nn.Linear(dim, rank, bias=False)
            self.FacTv = nn.Linear(rank, dim, bias=False)
            if method == 'fact-tk':
                self.FacTc = nn.Parameter(torch.zeros(rank, rank, rank))
                self.FacTp = nn.Parameter(torch.zeros(rank, 12 * depth))

    def forward(self, x: torch.Tensor, h: int, w: int, root: nn.Module = None):
        mask = self.attention_mask(h, w)
        for blk in self.blocks:
            x = blk(x, h, w, mask, self, root)
        if self.downsample is None:
            return x, h, w, x, h, w
        return x, h, w, self.downsample(x, h, w), (h + 1) // 2, (w + 1) // 2


class ZooRefPatchEmbed(nn.Module):

    def __init__(self, dim: int, method: str, patch: int = 4) -> None:
        super().__init__()
        self.patch, self.method = patch, method
        self.proj = nn.Conv2d(3, dim, patch, patch)
        self.norm = nn.LayerNorm(dim)
        if method == 'ssf':
            add_ssf(self, 1, dim)
            add_ssf(self, 2, dim)

    def forward(self, x: torch.Tensor):
        _, _, h, w = x.shape
        p = self.patch
        x = F.pad(x, (0, (p - w % p) % p, 0, (p - h % p) % p))
        x = self.proj(x)
        wh, ww = x.shape[2], x.shape[3]
        x = x.flatten(2).transpose(1, 2)
        if self.method == 'ssf':
            return ssf_ada(self.norm(ssf_ada(x, self, 1)), self, 2), wh, ww
        return self.norm(x), wh, ww


class ZooRefSwin(nn.Module):
    """A Swin with ``method`` (one of :data:`METHODS`), reference key layout; drop-path rates as
    mmdet spaces them (``linspace(0, drop_path_rate, sum(depths))``)."""

    def __init__(self, embed_dims: int, depths: Sequence[int], num_heads: Sequence[int],
                 window_size: int, method: str, drop_path_rate: float = 0.0,
                 rank: int = 8) -> None:
        super().__init__()
        self.patch_embed = ZooRefPatchEmbed(embed_dims, method)
        self.dims = [embed_dims * 2**i for i in range(len(depths))]
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        starts = [sum(depths[:i]) for i in range(len(depths))]
        self.layers = nn.ModuleList(
            ZooRefLayer(self.dims[i], depths[i], num_heads[i], window_size,
                        i < len(depths) - 1, method, dpr[starts[i]:starts[i] + depths[i]], rank)
            for i in range(len(depths)))
        for i in range(len(depths)):
            self.add_module(f'norm{i}', nn.LayerNorm(self.dims[i]))
        if method == 'kadaptation':
            for s in 'qv':
                self.register_parameter(f'phm_rule{s}_l', nn.Parameter(torch.zeros(32, 32, 1)))
                self.register_parameter(f'phm_rule{s}_r', nn.Parameter(torch.zeros(32, 1, 32)))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x, wh, ww = self.patch_embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x_out, h, w, x, wh, ww = layer(x, wh, ww, self)
            x_out = getattr(self, f'norm{i}')(x_out)
            outs.append(x_out.view(-1, h, w, self.dims[i]).permute(0, 3, 1, 2).contiguous())
        return outs


def randomize_all_(module: nn.Module, seed: int = 0, scale: float = 0.2) -> nn.Module:
    """Every parameter random (norm and SSF scales around 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * scale
            if name.endswith(('norm1.weight', 'norm2.weight', 'norm.weight')) or \
                    'ssf_scale' in name:
                noise = noise + 1.0
            p.copy_(noise)
    return module


def tiny_swin(method: str, drop_path_rate: float = 0.0) -> ZooRefSwin:
    """A tiny reference Swin whose widths are multiples of 32 (KAdaptation's 32 rules)."""
    return ZooRefSwin(32, (2, 2), (1, 2), 4, method, drop_path_rate=drop_path_rate)


TINY_ZOO = dict(embed_dims=32, depths=(2, 2), num_heads=(1, 2), window_size=4,
                out_indices=(0, 1), strides=(4, 2), mlp_ratio=4)
