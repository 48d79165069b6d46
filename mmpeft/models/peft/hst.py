"""Hierarchical Side-Tuning (HST, arXiv 2310.05393) side network, built from mmcv bricks.

Module names follow the official ``ViT_HSN`` roles (see ``HSTViT``):

* :class:`FeatureBridge` = ``T_Bridge_s`` + the meta-branch norms ``m_proj_norm_*`` of one stage;
* :class:`SideBlock` = ``M_Block`` (cross-attention from side tokens to ``[meta; global]``, the
  bridged ViT patch map added between attention and MLP);
* :class:`SideStage` = stem ``Head`` or ``OverlapPatchEmbed``, its side blocks and ``m_norm_s``.

The cross-attention uses one packed q/k/v projection (``nn.MultiheadAttention``) instead of three
Linears: the same parameters count (3d^2 + 3d) and the same function.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention, PatchEmbed
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_

from mmpeft.models.utils.attention import skip_attention_weights


def _to_map(tokens: torch.Tensor, hw: Sequence[int]) -> torch.Tensor:
    """``(B, H*W, C)`` -> ``(B, C, H, W)``."""
    B, _, C = tokens.shape
    return tokens.transpose(1, 2).reshape(B, C, hw[0], hw[1])


class FeatureBridge(nn.Module):
    """Adaptive Feature Bridge of one side stage.

    One ``Linear(vit_dims -> dims)`` shared by the stage's ViT blocks and by both branches; a
    LayerNorm (eps 1e-5) per ViT block on the meta branch only. The patch branch is projected at the
    ViT grid and then resized bilinearly (``align_corners=False``) to the side-stage size; this
    equals the official resize-then-project order because bilinear weights sum to one. The global
    token is the mean of the resized, projected map.
    """

    def __init__(self, vit_dims: int, dims: int, num_blocks: int) -> None:
        super().__init__()
        self.proj = nn.Linear(vit_dims, dims)
        self.meta_norms = nn.ModuleList(nn.LayerNorm(dims, eps=1e-5) for _ in range(num_blocks))

    def forward(self, j: int, meta: torch.Tensor, patches: torch.Tensor, grid: Sequence[int],
                out_hw: Sequence[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Bridge ViT block ``j`` of the stage.

        Args:
            meta: ``(B, G, C_vit)`` meta-token outputs of that block.
            patches: ``(B, Hg*Wg, C_vit)`` patch-token outputs (CLS and meta excluded).
            grid: ``(Hg, Wg)`` ViT grid; ``out_hw``: side-stage size.

        Returns:
            ``kv`` ``(B, G + 1, d)`` = ``[meta; global]`` and the bridged map ``(B, h*w, d)``.
        """
        meta = self.meta_norms[j](self.proj(meta))
        fmap = self.proj(patches)
        if tuple(grid) != tuple(out_hw):
            fmap = F.interpolate(
                _to_map(fmap, grid), size=tuple(out_hw), mode='bilinear',
                align_corners=False).flatten(2).transpose(1, 2)
        return torch.cat([meta, fmap.mean(dim=1, keepdim=True)], dim=1), fmap


class SideBlock(BaseModule):
    """Side block (official ``M_Block``), pre-norm.

    ``x += DropPath(CrossAttn(LN1(x), kv))``; ``x += vit``; ``x += DropPath(MLP(LN2(x)))``. The
    keys/values (``[meta; global]``) do not go through LN1.
    """

    def __init__(self, dims: int, num_heads: int, mlp_ratio: float = 4.,
                 drop_rate: float = 0., attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.) -> None:
        super().__init__()
        drop_path = dict(type='DropPath', drop_prob=drop_path_rate)
        self.ln1 = nn.LayerNorm(dims, eps=1e-6)
        self.attn = MultiheadAttention(
            dims, num_heads, attn_drop=attn_drop_rate, proj_drop=drop_rate,
            dropout_layer=drop_path, batch_first=True)
        skip_attention_weights(self.attn)
        self.ln2 = nn.LayerNorm(dims, eps=1e-6)
        self.ffn = FFN(dims, int(dims * mlp_ratio), act_cfg=dict(type='GELU'), ffn_drop=drop_rate,
                       dropout_layer=drop_path)

    def forward(self, x: torch.Tensor, kv: torch.Tensor, vit: torch.Tensor) -> torch.Tensor:
        """x: ``(B, N, d)`` side tokens; kv: ``(B, G+1, d)``; vit: ``(B, N, d)`` bridged map."""
        x = self.attn(self.ln1(x), key=kv, value=kv, identity=x) + vit
        return self.ffn(self.ln2(x), identity=x)


class SideStage(BaseModule):
    """Embedding (conv stem for stage 1, stride-2 conv for stages 2-4), side blocks, stage norm.

    The stem (official ``Head``) is Conv3x3/2 (no bias) + BN + ReLU, then Conv2x2/2 + LN (eps
    1e-5), stride 4 in all; later stages embed with Conv3x3/2 (pad 1) + LN (eps 1e-5). The stage
    norm (LN eps 1e-6) output is both the pyramid output and the next stage's input.
    """

    def __init__(self, in_channels: int, dims: int, num_heads: int, depth: int, stem: bool,
                 drop_path_rates: Sequence[float], mlp_ratio: float = 4.,
                 drop_rate: float = 0., attn_drop_rate: float = 0.,
                 stem_norm_cfg: Optional[dict] = None) -> None:
        super().__init__()
        embed_norm = dict(type='LN', eps=1e-5)
        if stem:
            self.stem_conv: Optional[nn.Module] = ConvModule(
                in_channels, dims, 3, stride=2, padding=1,
                norm_cfg=stem_norm_cfg or dict(type='BN'), act_cfg=dict(type='ReLU'))
            self.embed = PatchEmbed(dims, dims, kernel_size=2, stride=2, padding=0,
                                    norm_cfg=embed_norm)
        else:
            self.stem_conv = None
            self.embed = PatchEmbed(in_channels, dims, kernel_size=3, stride=2, padding=1,
                                    norm_cfg=embed_norm)
        self.blocks = nn.ModuleList(
            SideBlock(dims, num_heads, mlp_ratio, drop_rate, attn_drop_rate, dpr)
            for dpr in drop_path_rates[:depth])
        self.norm = build_norm_layer(dict(type='LN', eps=1e-6), dims)[1]

    def embed_input(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Map ``(B, C, H, W)`` to the stage's tokens ``(B, h*w, d)`` and ``(h, w)``."""
        if self.stem_conv is not None:
            x = self.stem_conv(x)
        return self.embed(x)

    def forward(self, x: torch.Tensor,
                bridged: List[Tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Run the blocks on tokens ``x`` with one ``(kv, vit)`` pair per block; apply the norm."""
        for block, (kv, vit) in zip(self.blocks, bridged):
            x = block(x, kv, vit)
        return self.norm(x)

    def init_weights(self) -> None:
        """Official side-network init: Linear trunc_normal(0.02), Conv normal(sqrt(2/fan_out))."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.MultiheadAttention):
                trunc_normal_(m.in_proj_weight, std=.02)
                nn.init.zeros_(m.in_proj_bias)
            elif isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0, (2.0 / fan_out)**0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
