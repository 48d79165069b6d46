"""Hierarchical Side-Tuning (HST, arXiv 2310.05393) on a frozen plain ViT, for dense prediction.

Data flow of the official ``ViT_HSN`` (classification only), extended to four outputs and any input
size that is a multiple of 32:

1. Frozen ViT (mmseg's ``VisionTransformer``: patch embed, CLS, position embedding bicubically
   interpolated to the input grid at every forward). Before block i, that block's meta token(s)
   are put **in front of the CLS token** (no position embedding); after it, their outputs and the
   patch outputs (CLS and meta excluded) are harvested and the meta tokens dropped.
2. For side stage s, the ViT blocks of group s go through the stage's :class:`FeatureBridge`
   (patch map resized to the stage size, global token, ``[meta; global]`` keys/values).
3. Side stage s (:class:`SideStage`): stem (stride 4) on the image for s = 1, stride-2 conv on the
   previous output otherwise, one :class:`SideBlock` per ViT block of the group, stage norm; the
   normed maps at strides 4/8/16/32 are the outputs.

Trainable: meta tokens, the side network, the bridges and the ViT's LayerNorms (``layers.N.ln1/2``);
frozen: patch embed, CLS, position embedding, attention and MLP weights. Gradients reach every ViT
block (the meta tokens and LayerNorms train), so ``with_cp`` recomputes the ViT blocks in backward.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmseg.models.backbones.vit import VisionTransformer

from mmpeft.checkpoint import LoadReport, load_vit_checkpoint
from mmpeft.models.peft.hst import FeatureBridge, SideStage
from mmpeft.models.utils import check_int
from mmpeft.models.utils.attention import skip_attention_weights
from mmpeft.registry import register_model

from .base import PEFTBackboneMixin

VIT_ARCHS: Dict[str, dict] = {
    'b': dict(embed_dims=768, num_layers=12, num_heads=12),
    'l': dict(embed_dims=1024, num_layers=24, num_heads=16),
}
SIDE_ARCHS: Dict[str, dict] = {
    # paper-strength dense setting (14.9M trainable with ViT-B)
    'hst-b': dict(embed_dims=[64, 128, 256, 512], num_heads=[2, 4, 8, 16]),
    # about Mona-Swin-B's trainable budget (4.0M with ViT-B)
    'hst-s': dict(embed_dims=[32, 64, 128, 256], num_heads=[1, 2, 4, 8]),
    # the official classification widths (764,840 trainable with ViT-B)
    'hst-cls': dict(embed_dims=[32, 48, 64, 72], num_heads=[2, 4, 8, 12]),
}


def _arch(arch: Union[str, dict], table: Dict[str, dict], keys: Sequence[str], what: str) -> dict:
    if isinstance(arch, str):
        if arch not in table:
            raise ValueError(f'unknown {what} {arch!r}; choose one of {sorted(table)} or pass a '
                             f'dict with {list(keys)}')
        return dict(table[arch])
    missing = [k for k in keys if k not in arch]
    if missing:
        raise ValueError(f'{what} dict lacks {missing}')
    return dict(arch)


@register_model
class HSTViT(PEFTBackboneMixin, VisionTransformer):
    """Frozen plain ViT + trainable hierarchical side network (HST), four outputs.

    Args:
        arch: ViT size, ``'b'`` / ``'l'`` or ``dict(embed_dims, num_layers, num_heads)``.
        side_arch: side widths, ``'hst-b'`` / ``'hst-s'`` / ``'hst-cls'`` or
            ``dict(embed_dims=[4 ints], num_heads=[4 ints])``.
        side_depths: ViT blocks per side stage (= side blocks per stage); default: num_layers / 4
            each (ViT-B 3,3,3,3; ViT-L 6,6,6,6). Must sum to the ViT depth.
        num_meta_tokens: meta tokens per ViT block (official: 1).
        img_size: the checkpoint's pre-training size (sets the stored position-embedding grid).
        drop_path_rate / side_drop_path_rate: stochastic depth of the ViT / side blocks.
        stem_norm_cfg: norm of the stem conv (``BN``; ``SyncBN`` on small per-GPU batches).
        out_indices: side stages to output.
        with_cp: recompute each ViT block in backward (non-reentrant checkpointing).
        pretrained / init_cfg: a timm or mmseg ViT checkpoint, or a whole official HST model
            (side network included; see
            :func:`mmpeft.checkpoint.layouts.vit.load_vit_checkpoint`).
    """
    #: parameters added to the ViT (all trainable; in official HST files, not in ViT ones)
    NEW_PREFIXES = ('meta_tokens', 'side_stages.', 'bridges.')

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 side_arch: Union[str, dict] = 'hst-b',
                 side_depths: Optional[Sequence[int]] = None,
                 num_meta_tokens: int = 1,
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: int = 16,
                 mlp_ratio: int = 4,
                 side_mlp_ratio: float = 4.,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 side_drop_path_rate: float = 0.,
                 stem_norm_cfg: Optional[dict] = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 with_cp: bool = False,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        vit = _arch(arch, VIT_ARCHS, ('embed_dims', 'num_layers', 'num_heads'), 'ViT arch')
        side = _arch(side_arch, SIDE_ARCHS, ('embed_dims', 'num_heads'), 'side arch')
        num_layers = vit['num_layers']
        dims, heads = list(side['embed_dims']), list(side['num_heads'])
        depths = list(side_depths) if side_depths is not None else [num_layers // 4] * 4
        if len(dims) != 4 or len(heads) != 4 or len(depths) != 4:
            raise ValueError(f'HSTViT has 4 side stages: got embed_dims={dims}, num_heads={heads}, '
                             f'side_depths={depths}')
        if sum(depths) != num_layers or min(depths) < 1:
            raise ValueError(
                f'side_depths {depths} must be positive and sum to the ViT depth {num_layers}: '
                'side block j of stage s reads ViT block j of group s, so every ViT block needs '
                'one (ViT-L: [6, 6, 6, 6])')
        bad = [(d, h) for d, h in zip(dims, heads) if d % h]
        if bad:
            raise ValueError(f'side embed_dims must be divisible by num_heads, got {bad}')
        init_cfg = self.resolve_pretrained(pretrained, init_cfg)
        check_int('HSTViT', 'patch_size', patch_size, 1)
        sizes = img_size if isinstance(img_size, (tuple, list)) else (img_size, img_size)
        if min(check_int('HSTViT', 'img_size', s, 1) for s in sizes) < patch_size:
            raise ValueError(
                f'HSTViT: img_size={img_size} is smaller than patch_size={patch_size}; img_size is '
                "the pretraining image size of the checkpoint (it sets the position-embedding "
                'grid), e.g. 224 for ViT-B/16')
        check_int('HSTViT', 'num_meta_tokens', num_meta_tokens, 1)
        if not set(out_indices) <= {0, 1, 2, 3}:
            raise ValueError(f'out_indices must be side stages 0-3, got {out_indices}')

        super().__init__(
            img_size=img_size, patch_size=patch_size, embed_dims=vit['embed_dims'],
            num_layers=num_layers, num_heads=vit['num_heads'], mlp_ratio=mlp_ratio,
            qkv_bias=True, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate, with_cls_token=True, norm_cfg=dict(type='LN', eps=1e-6),
            patch_bias=True, final_norm=False, interpolate_mode='bicubic', with_cp=False,
            init_cfg=init_cfg)
        self.vit_with_cp = with_cp
        self.out_indices = tuple(out_indices)
        self.side_dims, self.side_depths = dims, depths
        self.num_meta_tokens = num_meta_tokens
        C = vit['embed_dims']
        skip_attention_weights(self.layers)

        self.meta_tokens = nn.Parameter(torch.zeros(num_layers, num_meta_tokens, C))
        dpr = torch.linspace(0, side_drop_path_rate, num_layers).tolist()
        self.bridges = nn.ModuleList(FeatureBridge(C, d, n) for d, n in zip(dims, depths))
        self.side_stages = nn.ModuleList()
        starts = [sum(depths[:s]) for s in range(4)]
        for s in range(4):
            self.side_stages.append(SideStage(
                in_channels=3 if s == 0 else dims[s - 1], dims=dims[s], num_heads=heads[s],
                depth=depths[s], stem=s == 0, drop_path_rates=dpr[starts[s]:starts[s] + depths[s]],
                mlp_ratio=side_mlp_ratio, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                stem_norm_cfg=stem_norm_cfg))
        self.init_side_weights()
        self.freeze_backbone()

    def init_side_weights(self) -> None:
        """Official init of the new parts: side network, bridges, meta tokens (xavier-uniform)."""
        for stage in self.side_stages:
            stage.init_weights()
        for bridge in self.bridges:
            nn.init.trunc_normal_(bridge.proj.weight, std=.02)
            nn.init.zeros_(bridge.proj.bias)
        G, C = self.meta_tokens.shape[1:]
        bound = (6.0 / ((G + 1) * C))**0.5  # xavier-uniform of a (1, G, C) tensor
        nn.init.uniform_(self.meta_tokens, -bound, bound)

    def init_weights(self) -> None:
        """Load the ViT checkpoint (or mmseg's random ViT init), then re-init the new parts."""
        super().init_weights()
        if self.pretrained_checkpoint() is None:
            self.init_side_weights()  # mmseg's ViT init also re-initialised them

    def is_trainable_param(self, name: str) -> bool:
        return (name.startswith(self.NEW_PREFIXES)
                or (name.startswith('layers.') and '.ln' in name))

    def load_pretrained(self, checkpoint: str, map_location: str = 'cpu',
                        allow_missing: bool = False) -> LoadReport:
        """Load a timm / mmseg ViT or an official HST checkpoint.

        The ViT weights (its LayerNorms too) must be in the file. A side network in it (official
        HST layout or mmpeft's) loads as well and must fit this model exactly; without one, the
        side network keeps its initialisation. ``report.notes['side_network']`` tells which.
        """
        report = load_vit_checkpoint(
            self, checkpoint, map_location=map_location,
            pretrained=lambda n: not n.startswith(self.NEW_PREFIXES),
            allow_missing=allow_missing)
        report.notes['side_network'] = any(k.startswith(self.NEW_PREFIXES) for k in report.loaded)
        self.freeze_backbone()
        return report

    def describe(self) -> str:
        return f'HSTViT(side {self.side_dims}, depths {self.side_depths})'

    def _pos_embeding(self, patched_img: torch.Tensor, hw_shape: Sequence[int],
                      pos_embed: torch.Tensor) -> torch.Tensor:
        """Add the position embedding, resized (bicubic) from the pretraining grid to the input's
        grid whenever the grid *shape* differs (mmseg resizes only when the token count differs,
        so a 16x36 input on a 24x24 checkpoint would reuse the 24x24 layout)."""
        grid = (self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size)
        if tuple(hw_shape) != grid:
            pos_embed = self.resize_pos_embed(pos_embed, tuple(hw_shape), grid,
                                              self.interpolate_mode)
        return self.drop_after_pos(patched_img + pos_embed)

    def _block(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.vit_with_cp and x.requires_grad:
            return cp.checkpoint(layer, x, use_reentrant=False)
        return layer(x)

    def forward_vit(self, x: torch.Tensor
                    ) -> Tuple[List[Tuple[torch.Tensor, torch.Tensor]], Tuple[int, int]]:
        """Run the frozen ViT with the meta tokens.

        Returns one ``(meta, patches)`` pair per block (``(B, G, C)``, ``(B, Hg*Wg, C)``) and the
        grid ``(Hg, Wg)``.
        """
        B, G = x.shape[0], self.num_meta_tokens
        tokens, grid = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(B, -1, -1), tokens], dim=1)
        tokens = self._pos_embeding(tokens, grid, self.pos_embed)
        outs = []
        for i, layer in enumerate(self.layers):
            meta = self.meta_tokens[i].unsqueeze(0).expand(B, -1, -1)
            tokens = self._block(layer, torch.cat([meta, tokens], dim=1))
            outs.append((tokens[:, :G], tokens[:, G + 1:]))
            tokens = tokens[:, G:]
        return outs, tuple(grid)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``(B, 3, H, W)`` with H, W multiples of 32 -> maps at strides 4, 8, 16, 32."""
        H, W = x.shape[-2:]
        if H % 32 or W % 32:
            raise ValueError(f'HSTViT needs input sizes that are multiples of 32, got {H}x{W}; set '
                             'pad_size_divisor=32 (mmdet/mmrotate) or a 32-multiple crop/size '
                             '(mmseg) in the data preprocessor')
        vit_outs, grid = self.forward_vit(x)
        outs, feat, start = [], x, 0
        for s, (stage, bridge) in enumerate(zip(self.side_stages, self.bridges)):
            tokens, hw = stage.embed_input(feat)
            group = vit_outs[start:start + len(stage.blocks)]
            bridged = [bridge(j, meta, patches, grid, hw)
                       for j, (meta, patches) in enumerate(group)]
            start += len(stage.blocks)
            tokens = stage(tokens, bridged)
            feat = tokens.transpose(1, 2).reshape(x.shape[0], -1, *hw)
            if s in self.out_indices:
                outs.append(feat.contiguous())
        return tuple(outs)
