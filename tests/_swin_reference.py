"""Test helpers: tiny Swin configs, random weights, and an independent re-implementation of the
official Mona-Swin forward in the ORIGINAL Microsoft key layout (``layers.i.blocks.j.attn.qkv``,
``mlp.fc1``, ``downsample.reduction`` with concat-order PatchMerging, ``my_module_1/2``), with the
Mona paper's baselines as the reference codebases write their blocks (``method``: the official
Mona repo's Adapter, AdaptFormer and loralib LoRA; STAR-MMRotate's LoRand).

Written from the Swin / Mona papers' algorithm descriptions and the reference-code notes; it shares
no code with mmdet's Swin or with mmpeft's methods (Mona excepted, whose module is tested against
its formula elsewhere), so that loading reference checkpoints is checked against an independent
forward pass (eval semantics: no drop-path, no dropout).
"""
import math
import re
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmpeft.models.peft import Mona

TINY = dict(embed_dims=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8), window_size=7)
PERM = [0, 2, 1, 3]  # nn.Unfold (kh, kw) order <-> Microsoft concat order x0, x1, x2, x3
OUT_NORM = re.compile(r'^norm\d+\.')


def randomize_(module: nn.Module, seed: int = 0, scale: float = 0.2) -> nn.Module:
    """Overwrite every parameter except the output norms with random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if OUT_NORM.match(name):
                continue
            noise = torch.randn(p.shape, generator=g) * scale
            if re.search(r'norm\d?\.weight$', name):
                noise = noise + 1.0
            p.copy_(noise)
    return module


def reduction_unfold_to_concat(w: torch.Tensor) -> torch.Tensor:
    """Inverse of mmdet's PatchMerging reduction re-order (Unfold -> Microsoft concat order)."""
    out_c, in_c = w.shape
    t = w.reshape(out_c, in_c // 4, 4).transpose(1, 2)
    return t[:, PERM, :].reshape(out_c, in_c).contiguous()


def norm_unfold_to_concat(v: torch.Tensor) -> torch.Tensor:
    """Inverse of mmdet's PatchMerging norm re-order."""
    in_c = v.shape[0]
    t = v.reshape(in_c // 4, 4).transpose(0, 1)
    return t[PERM].reshape(in_c).contiguous()


def mmdet_to_microsoft(state: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """mmdet/mmpeft Swin keys (no prefix) -> Microsoft/official-Mona keys and channel order."""
    out = OrderedDict()
    for k, v in state.items():
        if OUT_NORM.match(k) or k.endswith('relative_position_index'):
            continue
        nk = k
        if k.startswith('stages.'):
            nk = 'layers.' + k[len('stages.'):]
            for a, b in (('.attn.w_msa.', '.attn.'), ('.ffn.layers.0.0.', '.mlp.fc1.'),
                         ('.ffn.layers.1.', '.mlp.fc2.'), ('.mona1.', '.my_module_1.'),
                         ('.mona2.', '.my_module_2.')):
                nk = nk.replace(a, b)
            if '.downsample.reduction.' in nk:
                v = reduction_unfold_to_concat(v)
            elif '.downsample.norm.' in nk:
                v = norm_unfold_to_concat(v)
        elif k.startswith('patch_embed.projection.'):
            nk = k.replace('patch_embed.projection.', 'patch_embed.proj.')
        out[nk] = v.clone()
    return out


# ------------------------------------------------------------------ reference Mona-Swin (Microsoft)
def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b, h, w, -1)


class RefWindowAttention(nn.Module):

    def __init__(self, dim: int, ws: int, num_heads: int) -> None:
        super().__init__()
        self.ws, self.num_heads = ws, num_heads
        self.scale = (dim // num_heads)**-0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1)**2, num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing='ij'))
        flat = coords.flatten(1)
        rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += ws - 1
        rel[:, :, 1] += ws - 1
        rel[:, :, 0] *= 2 * ws - 1
        self.register_buffer('relative_position_index', rel.sum(-1))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        b_, n, c = x.shape
        qkv = self.qkv(x).reshape(b_, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b_ // nw, nw, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b_, n, c))


class RefMlp(nn.Module):

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class RefBottleneck(nn.Module):
    """The reference Adapter / AdaptFormer MLP: C -> 64 -> C with exact GELU (dropout: eval)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project1 = nn.Linear(dim, 64)
        self.project2 = nn.Linear(64, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project2(F.gelu(self.project1(x)))


class RefMergedLinear(nn.Linear):
    """loralib ``MergedLinear(enable_lora=[True, False, True], r=64, lora_alpha=1)``: the update
    of q and v from a grouped 1x1 convolution, as loralib computes it."""

    def __init__(self, dim: int, r: int = 64) -> None:
        super().__init__(dim, 3 * dim)
        self.r = r
        self.lora_A = nn.Parameter(torch.zeros(2 * r, dim))
        self.lora_B = nn.Parameter(torch.zeros(2 * dim, r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        after_a = F.linear(x, self.lora_A)
        after_b = F.conv1d(after_a.transpose(-2, -1), self.lora_B.unsqueeze(-1),
                           groups=2).transpose(-2, -1)
        c = self.in_features
        delta = torch.cat([after_b[..., :c], torch.zeros_like(after_b[..., :c]),
                           after_b[..., c:]], dim=-1)
        return F.linear(x, self.weight, self.bias) + delta * (1 / self.r)


class RefLorandMulti(nn.Module):
    """STAR-MMRotate's ``Lorand_Multi``: weight = sum_k (A_k g_k B_k)^T, 4 branches of rank 8."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.param_dict = nn.ParameterDict()
        for k in range(4):
            self.param_dict[f'A{k}'] = nn.Parameter(torch.zeros(cin, 8))
            self.param_dict[f'g{k}'] = nn.Parameter(torch.zeros(8, 8))
            self.param_dict[f'B{k}'] = nn.Parameter(torch.zeros(8, cout))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = 0
        for k in range(4):
            w = w + torch.mm(torch.mm(self.param_dict[f'A{k}'], self.param_dict[f'g{k}']),
                             self.param_dict[f'B{k}']).t()
        return F.linear(x, w, self.bias)


class RefLorand(nn.Module):

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project1 = RefLorandMulti(dim, dim // 2)
        self.project2 = RefLorandMulti(dim // 2, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project2(F.gelu(self.project1(x)))


#: ``method`` -> the modules of a reference block (named as the reference names them)
METHOD_MODULES = {
    'mona': lambda d: dict(my_module_1=Mona(d), my_module_2=Mona(d)),
    'adapter': lambda d: dict(my_module_1=RefBottleneck(d), my_module_2=RefBottleneck(d)),
    'adaptformer': lambda d: dict(my_module_1=RefBottleneck(d)),
    'lora': lambda d: dict(),
    'lorand': lambda d: dict(lorand1=RefLorand(d), lorand2=RefLorand(d)),
}


class RefBlock(nn.Module):

    def __init__(self, dim: int, num_heads: int, ws: int, shift: int,
                 method: str = 'mona') -> None:
        super().__init__()
        self.ws, self.shift, self.method = ws, shift, method
        self.norm1 = nn.LayerNorm(dim)
        self.attn = RefWindowAttention(dim, ws, num_heads)
        if method == 'lora':
            self.attn.qkv = RefMergedLinear(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = RefMlp(dim, 4 * dim)
        for name, module in METHOD_MODULES[method](dim).items():
            self.add_module(name, module)

    def forward(self, x: torch.Tensor, h: int, w: int, mask: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        ws = self.ws
        shortcut = x
        x = self.norm1(x).view(b, h, w, c)
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = x.shape[1], x.shape[2]
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, ws).view(-1, ws * ws, c)
        windows = self.attn(windows, mask if self.shift else None).view(-1, ws, ws, c)
        x = window_reverse(windows, ws, hp, wp)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x[:, :h, :w, :].reshape(b, h * w, c)
        if self.method == 'mona':  # after the residuals
            x = shortcut + x
            x = self.my_module_1(x, (h, w))
            x = x + self.mlp(self.norm2(x))
            return self.my_module_2(x, (h, w))
        if self.method == 'adapter':  # on the branches, with their own skip
            x = shortcut + (x + self.my_module_1(x))
            f = self.mlp(self.norm2(x))
            return x + (f + self.my_module_2(f))
        if self.method == 'adaptformer':  # beside the MLP, scaled by 0.1
            x = shortcut + x
            return x + self.mlp(self.norm2(x)) + 0.1 * self.my_module_1(x)
        if self.method == 'lorand':  # on the branches (STAR: after the drop-path)
            x = shortcut + self.lorand1(x)
            return x + self.lorand2(self.mlp(self.norm2(x)))
        x = shortcut + x  # lora: the update is inside attn.qkv
        return x + self.mlp(self.norm2(x))


class RefPatchMerging(nn.Module):

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class RefLayer(nn.Module):

    def __init__(self, dim: int, depth: int, num_heads: int, ws: int, downsample: bool,
                 method: str = 'mona') -> None:
        super().__init__()
        self.ws = ws
        self.blocks = nn.ModuleList(
            RefBlock(dim, num_heads, ws, 0 if i % 2 == 0 else ws // 2, method)
            for i in range(depth))
        self.downsample = RefPatchMerging(dim) if downsample else None

    def attention_mask(self, h: int, w: int) -> torch.Tensor:
        ws, s = self.ws, self.ws // 2
        hp, wp = math.ceil(h / ws) * ws, math.ceil(w / ws) * ws
        img_mask = torch.zeros(1, hp, wp, 1, dtype=self.blocks[0].norm1.weight.dtype)
        cnt = 0
        for hs in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
            for wsl in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
                img_mask[:, hs, wsl, :] = cnt
                cnt += 1
        mw = window_partition(img_mask, ws).view(-1, ws * ws)
        mask = mw.unsqueeze(1) - mw.unsqueeze(2)
        return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)

    def forward(self, x: torch.Tensor, h: int, w: int):
        mask = self.attention_mask(h, w)
        for blk in self.blocks:
            x = blk(x, h, w, mask)
        if self.downsample is None:
            return x, h, w, x, h, w
        return x, h, w, self.downsample(x, h, w), (h + 1) // 2, (w + 1) // 2


class RefPatchEmbed(nn.Module):

    def __init__(self, dim: int, patch: int = 4) -> None:
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, dim, patch, patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor):
        _, _, h, w = x.shape
        p = self.patch
        x = F.pad(x, (0, (p - w % p) % p, 0, (p - h % p) % p))
        x = self.proj(x)
        wh, ww = x.shape[2], x.shape[3]
        return self.norm(x.flatten(2).transpose(1, 2)), wh, ww


class RefMonaSwin(nn.Module):
    """Official Mona-Swin forward (eval semantics: no drop-path), Microsoft parameter names; with
    ``method`` another method's blocks (see the module docstring)."""

    def __init__(self, embed_dims: int, depths: Sequence[int], num_heads: Sequence[int],
                 window_size: int, out_indices: Sequence[int] = (0, 1, 2, 3),
                 method: str = 'mona') -> None:
        super().__init__()
        self.out_indices = tuple(out_indices)
        self.patch_embed = RefPatchEmbed(embed_dims)
        self.dims = [embed_dims * 2**i for i in range(len(depths))]
        self.layers = nn.ModuleList(
            RefLayer(self.dims[i], depths[i], num_heads[i], window_size, i < len(depths) - 1,
                     method) for i in range(len(depths)))
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(self.dims[i]))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x, wh, ww = self.patch_embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x_out, h, w, x, wh, ww = layer(x, wh, ww)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x_out)
                outs.append(out.view(-1, h, w, self.dims[i]).permute(0, 3, 1, 2).contiguous())
        return outs


def prefixed(state: Dict[str, torch.Tensor], prefix: str) -> 'OrderedDict[str, torch.Tensor]':
    return OrderedDict((prefix + k, v) for k, v in state.items())


def fake_detector_keys() -> 'OrderedDict[str, torch.Tensor]':
    """A few neck/head tensors as found beside the backbone in detector checkpoints."""
    return OrderedDict([('neck.lateral_convs.0.conv.weight', torch.randn(8, 32, 1, 1)),
                        ('rpn_head.rpn_conv.weight', torch.randn(8, 8, 3, 3)),
                        ('roi_head.bbox_head.fc_cls.weight', torch.randn(3, 16)),
                        ('decode_head.conv_seg.weight', torch.randn(4, 8, 1, 1))])


def swin_keys(state: Dict[str, torch.Tensor]) -> List[str]:
    """Keys of the Swin part (no adapters, output norms or derived buffers)."""
    return [
        k for k in state if '.mona' not in k and not OUT_NORM.match(k)
        and not k.endswith('relative_position_index')
    ]


def tiny_shape(h: int, w: int, levels: int = 4) -> List[Tuple[int, int]]:
    """Expected feature sizes: PatchEmbed pads to /4, PatchMerging takes ceil(/2)."""
    sizes = [(math.ceil(h / 4), math.ceil(w / 4))]
    for _ in range(levels - 1):
        sizes.append((math.ceil(sizes[-1][0] / 2), math.ceil(sizes[-1][1] / 2)))
    return sizes
