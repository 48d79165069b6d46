"""Convpass: convolutional bypasses for ViTs (Jie and Deng, 2022; official code
JieShibo/PETL-ViT ``convpass/``).

``m(z) = scale * up(dropout(act(conv3x3(act(down(z))))))`` (``act``: QuickGELU, ``down``: C -> 8,
a full 3x3 convolution 8 -> 8 on the token map, ``up``: 8 -> C), beside the attention and beside
the FFN of every block, fed the same normed tokens as the branch, each with its own drop-path:
``x = x + DropPath(attn(h)) + DropPath(m1(h))``, ``h = norm1(x)`` (``adapter_attn``, site
``ATTN_BYPASS``), and the same with ``norm2`` and the FFN (``adapter_mlp``, ``FFN_BYPASS``).

A ViT's class token goes through the same path as a 1x1 map (only the convolution's centre tap
and bias act on it), as in the official ViT code; so do DINOv2's register tokens. The official
Swin code only handles square token maps (``H = sqrt(N)``); here the map is the block's
``(H, W)``, of any shape.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmpeft.models.utils.validate import check_int
from mmpeft.registry import register_peft_module

from .base import Insertion, PEFTModule, Site


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    """CLIP's ``x * sigmoid(1.702 x)``."""
    return x * torch.sigmoid(1.702 * x)


@register_peft_module
class Convpass(PEFTModule):
    """One convolutional bypass (see the module docstring).

    Parameters: ``17 * C + 592`` per module for ``dim=8`` (two per block; Swin-B 437,504).

    Args:
        in_dims: token channels C.
        dim: bottleneck channels (8).
        scale: the fixed output scale ``s`` (1; the official VTAB configs tune it per dataset).
        xavier_init: xavier-uniform convolution instead of the default identity at the centre tap
            (``up`` starts at zero either way, so the bypass adds nothing at the start).
        dropout: dropout before ``up`` (0.1).
        attn_only: only the bypass beside the attention (the official ``convpass_attn``).
    """
    insertions = (('adapter_attn', Site.ATTN_BYPASS), ('adapter_mlp', Site.FFN_BYPASS))
    takes_extra_tokens = True

    @classmethod
    def placements(cls, cfg: dict) -> Sequence[Insertion]:
        return cls.insertions[:1] if cfg.get('attn_only', False) else cls.insertions

    def __init__(self, in_dims: int, dim: int = 8, scale: float = 1.0, xavier_init: bool = False,
                 dropout: float = 0.1, attn_only: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_dims = check_int('Convpass', 'in_dims', in_dims, 1)
        self.dim = check_int('Convpass', 'dim', dim, 1)
        self.scale = float(scale)
        self.adapter_conv = nn.Conv2d(dim, dim, 3, 1, 1)
        self.adapter_down = nn.Linear(in_dims, dim)
        self.adapter_up = nn.Linear(dim, in_dims)
        self.dropout = nn.Dropout(dropout)
        with torch.no_grad():
            if xavier_init:
                nn.init.xavier_uniform_(self.adapter_conv.weight)
            else:
                self.adapter_conv.weight.zero_()
                self.adapter_conv.weight[:, :, 1, 1] = torch.eye(dim)
            nn.init.zeros_(self.adapter_conv.bias)
            nn.init.xavier_uniform_(self.adapter_down.weight)
            nn.init.zeros_(self.adapter_down.bias)
            nn.init.zeros_(self.adapter_up.weight)
            nn.init.zeros_(self.adapter_up.bias)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """``x``: (B, e + H * W, C), ``e`` extra tokens (class, registers) before the patches of
        the unpadded ``hw_shape`` map; returns ``scale * m(x)`` (without the drop-path)."""
        b, n, _ = x.shape
        h, w = int(hw_shape[0]), int(hw_shape[1])
        extra = n - h * w
        if extra < 0:
            raise ValueError(f'Convpass got {n} tokens for a {h}x{w} token map')
        z = quick_gelu(self.adapter_down(x))
        patches = z[:, extra:].reshape(b, h, w, self.dim).permute(0, 3, 1, 2)
        patches = self.adapter_conv(patches).permute(0, 2, 3, 1).reshape(b, h * w, self.dim)
        if extra:  # 1x1 maps: the zero padding leaves the centre tap only
            tokens = F.linear(z[:, :extra], self.adapter_conv.weight[:, :, 1, 1],
                              self.adapter_conv.bias)
            patches = torch.cat([tokens, patches], dim=1)
        return self.adapter_up(self.dropout(quick_gelu(patches))) * self.scale

    def extra_repr(self) -> str:
        return f'in_dims={self.in_dims}, dim={self.dim}, scale={self.scale}'
