"""PEFT methods in DINOv3's ViTs (Siméoni et al., 2025; ``facebookresearch/dinov3``).

:class:`PEFTDINOv3` is DINOv3's ``DinoVisionTransformer`` (eval function) for the released sizes,
S/16 to 7B/16, with a method's modules in every block and frozen but for them. mmpretrain has no
DINOv3, so the modules are written here, under the official parameter names (a released file
loads key for key): patch embedding ``patch_embed.proj`` (a stride-16 convolution, no position
table), ``cls_token``, 4 ``storage_tokens`` (registers) after it, pre-norm blocks ``blocks.N``
(LayerNorm eps 1e-5, attention with rotary positions on the patch tokens, layer scale ``ls1`` /
``ls2`` inside each branch, an MLP ``mlp.fc1/fc2`` or SwiGLU ``mlp.w1/w2/w3``) and the final
``norm``. The blocks are :class:`~mmpeft.models.backbones.peft_block.PEFTBlockMixin` blocks of
the ViT family (:mod:`.peft_vit`): the class and storage tokens pass by the modules that need the
token map (Mona), and the methods sit where they sit in every other family.

Rotary embedding (:class:`DINOv3RotaryEmbedding`, on :class:`.rotary.GridRotaryEmbedding` as
EVA-02's): per input grid ``(H, W)``, coordinates ``2 (i + 0.5) / n - 1`` per axis, angles ``2 pi c
/ P_m`` with the periods ``P_m`` of the file (``rope_embed.periods``, bfloat16-rounded in the
releases; never recomputed from the base), row and column angles in alternating blocks of
``head_dims / 4`` tiled twice, rotate-half pairing (channel ``m`` with ``m + head_dims / 2``).
The official training's random rescaling of the coordinates is off unless
``rope_rescale_coords`` is set (train mode only).

Outputs: the patch maps after the blocks of ``out_indices``, each through the final ``norm``
(``final_norm=True``), as the official ``get_intermediate_layers(norm=True)`` that its dense
evaluations read. Inputs whose sides are not multiples of 16 are cropped (the strided convolution
floors), as in the official model.

Deviations from the official module (both training-only): drop-path drops whole samples (mmcv's
``DropPath``) where the official code adds the branch to a random batch subset, scaled; the
official ``mask_token`` (masked-image training) and the 7B's ``local_cls_norm`` (local crops) are
not built (the loader reports them as unused).
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.drop import DropPath
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_

from mmpeft.checkpoint import CheckpointMismatchError
from mmpeft.checkpoint.layouts.foundation import DINOV3_LAYOUTS
from mmpeft.models.utils import check_int
from mmpeft.registry import register_model

from .peft_vit import FoundationViTMixin, ViTBlockMixin, keep_k_bias_zero
from .rotary import GridRotaryEmbedding


class DINOv3RotaryEmbedding(GridRotaryEmbedding):
    """DINOv3's 2-D rotary embedding of the patch tokens (``RopePositionEmbedding`` with
    ``normalize_coords='separate'``), for any ``(H, W)`` grid.

    The periods are a persistent buffer, ``periods`` (``head_dims / 4``), loaded from the file;
    initialised to ``base ** (4 m / head_dims)`` rounded to bfloat16, as the released files hold
    them. Tables are computed in float32 (the hub's ``pos_embed_rope_dtype``).

    Args:
        head_dims: channels per attention head (64; 128 for the 7B).
        base: the period base (100 for every release).
        rescale_coords: the official training augmentation: in train mode all coordinates are
            multiplied by one ``exp(U(-ln r, ln r))`` per table (2 in the official training);
            None (default) never.
    """

    def __init__(self, head_dims: int, base: float = 100.,
                 rescale_coords: Optional[float] = None) -> None:
        super().__init__(head_dims)
        if rescale_coords is not None and not rescale_coords >= 1:
            raise ValueError(f'DINOv3RotaryEmbedding: rescale_coords must be None or >= 1, got '
                             f'{rescale_coords!r}')
        self.base = float(base)
        self.rescale_coords = rescale_coords
        exponents = torch.arange(head_dims // 4, dtype=torch.float32) * 4 / head_dims
        self.register_buffer('periods', (self.base**exponents).bfloat16().float(),
                             persistent=True)
        self.register_load_state_dict_post_hook(lambda module, _: module.clear_cache())

    def cacheable(self) -> bool:
        return not (self.training and self.rescale_coords)

    def train(self, mode: bool = True):
        self.clear_cache()
        return super().train(mode)

    def angles(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        coords = torch.stack(torch.meshgrid(
            2 * (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h - 1,
            2 * (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w - 1,
            indexing='ij'), dim=-1).reshape(h * w, 2)
        if self.training and self.rescale_coords:
            bound = math.log(self.rescale_coords)
            coords = coords * torch.empty(1, device=device).uniform_(-bound, bound).exp()
        periods = self.periods.to(device=device, dtype=torch.float32)
        angles = 2 * math.pi * coords[:, :, None] / periods  # (HW, 2, D/4): rows, columns
        return angles.flatten(1).tile(2)

    def partner(self, x: torch.Tensor) -> torch.Tensor:
        first, second = x.chunk(2, dim=-1)
        return torch.cat([-second, first], dim=-1)

    def extra_repr(self) -> str:
        return (f'head_dims={self.head_dims}, base={self.base:g}, '
                f'rescale_coords={self.rescale_coords}')


class DINOv3Attention(nn.Module):
    """Multi-head self-attention with the rotary embedding on the patch tokens of q and k (the
    first ``num_prefix_tokens`` are not rotated); a packed ``qkv`` Linear and ``proj``.

    ``rope`` is the backbone's one :class:`DINOv3RotaryEmbedding`, shared by every block and held
    outside the module tree (the file has one ``rope_embed.periods``)."""

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool,
                 rope: DINOv3RotaryEmbedding, num_prefix_tokens: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.num_prefix_tokens = num_prefix_tokens
        self.__dict__['rope'] = rope

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        p = self.num_prefix_tokens
        cos, sin = self.rope.table(hw_shape, x.device)
        q = torch.cat([q[:, :, :p], self.rope.rotate(q[:, :, p:], cos, sin)], dim=2)
        k = torch.cat([k[:, :, :p], self.rope.rotate(k[:, :, p:], cos, sin)], dim=2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class LayerScale(nn.Module):
    """Per-channel scale ``gamma`` (DINOv3's ``ls1`` / ``ls2``)."""

    def __init__(self, embed_dims: int, init_value: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((embed_dims, ), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class DINOv3Mlp(nn.Module):
    """``fc2(GELU(fc1 x))`` (exact GELU)."""

    def __init__(self, embed_dims: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DINOv3SwiGLU(nn.Module):
    """``w3(silu(w1 x) * w2 x)``; ``hidden`` is the official ``int(2 / 3 * C * ratio)`` rounded
    up to ``align`` (computed by :func:`ffn_hidden`)."""

    def __init__(self, embed_dims: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(embed_dims, hidden)
        self.w2 = nn.Linear(embed_dims, hidden)
        self.w3 = nn.Linear(hidden, embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w3(F.silu(self.w1(x)) * self.w2(x))


def ffn_hidden(arch: dict) -> int:
    """The FFN's hidden width of an ``arch``: ``C * ffn_ratio`` (MLP), or for SwiGLU
    ``int(int(C * ffn_ratio) * 2 / 3)`` rounded up to ``swiglu_align``."""
    hidden = int(arch['embed_dims'] * arch['ffn_ratio'])
    if arch['ffn_type'] == 'mlp':
        return hidden
    d = int(hidden * 2 / 3)
    return d + (-d % arch['swiglu_align'])


class PEFTDINOv3Block(ViTBlockMixin, nn.Module):
    """A DINOv3 ``SelfAttentionBlock`` as a PEFT block: ``x + DropPath(ls1(attn(norm1 x)))``
    then ``x + DropPath(ls2(mlp(norm2 x)))``, with the method's modules at their sites."""

    def __init__(self, arch: dict, rope: DINOv3RotaryEmbedding, num_prefix_tokens: int,
                 drop_path: float, layer_scale_init: float) -> None:
        super().__init__()
        c = arch['embed_dims']
        self.norm1 = nn.LayerNorm(c, eps=arch['norm_eps'])
        self.attn = DINOv3Attention(c, arch['num_heads'], arch['qkv_bias'], rope,
                                    num_prefix_tokens)
        self.ls1 = LayerScale(c, layer_scale_init)
        self.norm2 = nn.LayerNorm(c, eps=arch['norm_eps'])
        ffn = DINOv3Mlp if arch['ffn_type'] == 'mlp' else DINOv3SwiGLU
        self.mlp = ffn(c, ffn_hidden(arch))
        self.ls2 = LayerScale(c, layer_scale_init)
        self.drop_path_attn = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.drop_path_ffn = self.drop_path_attn
        self.num_prefix_tokens = num_prefix_tokens
        self.peft_sites = {}
        self.with_cp = False

    @classmethod
    def convert(cls, block: 'PEFTDINOv3Block', num_prefix_tokens: int,
                with_cp: bool) -> 'PEFTDINOv3Block':
        """The block is built as a PEFT block; only ``with_cp`` is set."""
        block.with_cp = with_cp
        return block

    def attn_branch(self, h: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        return self.ls1(self.attn(h, hw_shape))

    def ffn_branch(self, h: torch.Tensor) -> torch.Tensor:
        return self.ls2(self.mlp(h))


_S = dict(embed_dims=384, num_layers=12, num_heads=6)
_L = dict(embed_dims=1024, num_layers=24, num_heads=16)
_MLP = dict(ffn_ratio=4, ffn_type='mlp')
_SWIGLU = dict(ffn_ratio=6, ffn_type='swiglu')


@register_model
class PEFTDINOv3(FoundationViTMixin, BaseModule):
    """DINOv3 ViT (patch 16, 4 storage tokens, rotary positions, layer scale) with a PEFT method
    in every block; only the method trains (and what ``trainable`` names).

    Example (``configs/_base_/dinov3_vits.py`` has the full settings)::

        PEFTDINOv3(arch='vitb16', out_indices=(11, ), method=dict(type='Mona'),
                   init_cfg=dict(type='Pretrained',
                                 checkpoint='dinov3_vitb16_pretrain_lvd1689m-73cec8be.pth'))

    Args:
        arch: a hub name without ``dinov3_`` (``'vits16'``, ``'vits16plus'``, ``'vitb16'``,
            ``'vitl16'``, ``'vitl16plus'``, ``'vith16plus'``, ``'vit7b16'``) or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads``, ``ffn_ratio`` and optionally
            ``ffn_type`` (``'mlp'``/``'swiglu'``), ``swiglu_align`` (8), ``qkv_bias`` (True),
            ``norm_eps`` (1e-5).
        method: the PEFT method and its settings (``dict(type='Mona')``, ``'LoRA'``,
            ``'Adapter'``, ``'AdaptFormer'``, ...); None inserts nothing.
        trainable: name patterns of ViT parameters that train besides the method's; ``()``
            (default) none, None every parameter (full fine-tuning; the k rows of the q/k/v bias,
            masked out in DINOv3, get no gradient).
        out_indices: the blocks whose patch maps are returned (``(B, C, H/16, W/16)``); -1 the
            last. The official dense evaluations read 4 evenly spaced blocks ([2, 5, 8, 11] of
            12) or the last.
        final_norm: pass every output through the final ``norm`` (the official convention).
        num_storage_tokens: the storage (register) tokens after the class token (4 in every
            release).
        drop_path_rate: the drop-path rate of every block (DINOv3 uses one rate for all).
        layer_scale_init: the initial layer-scale value (before loading).
        rope_base: the base of the initial periods (before loading).
        rope_rescale_coords: the official training's random coordinate rescaling (train mode
            only; the hub models were trained with 2); None (default): positions as in eval.
        with_cp: recompute every block in backward.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` loads a released DINOv3 file or an
            mmpeft checkpoint of this backbone (auto-detected).
    """
    arch_zoo = {
        'vits16': dict(_S, **_MLP),
        'vits16plus': dict(_S, **_SWIGLU),
        'vitb16': dict(embed_dims=768, num_layers=12, num_heads=12, **_MLP),
        'vitl16': dict(_L, **_MLP),
        'vitl16plus': dict(_L, **_SWIGLU),
        'vith16plus': dict(embed_dims=1280, num_layers=32, num_heads=20, **_SWIGLU),
        'vit7b16': dict(embed_dims=4096, num_layers=40, num_heads=32, ffn_ratio=3,
                        ffn_type='swiglu', swiglu_align=64, qkv_bias=False),
    }
    arch_defaults = dict(ffn_type='mlp', swiglu_align=8, qkv_bias=True, norm_eps=1e-5)
    layer_cls = PEFTDINOv3Block
    checkpoint_layouts = DINOV3_LAYOUTS
    patch_size = 16

    def __init__(self, arch: Union[str, dict] = 'vitb16', *, method: Optional[dict] = None,
                 trainable: Optional[Sequence[str]] = (),
                 out_indices: Union[int, Sequence[int]] = -1, final_norm: bool = True,
                 num_storage_tokens: int = 4, drop_path_rate: float = 0.,
                 layer_scale_init: float = 1e-5, rope_base: float = 100.,
                 rope_rescale_coords: Optional[float] = None, with_cp: bool = False,
                 **kwargs) -> None:
        kwargs = self.self_freezing_kwargs(kwargs)
        init_cfg = kwargs.pop('init_cfg', None)
        kwargs.pop('frozen_stages', None)
        if kwargs:
            raise TypeError(f'PEFTDINOv3 got unexpected arguments {sorted(kwargs)}')
        super().__init__(init_cfg=init_cfg)
        self.arch = arch
        arch = self.arch_settings(arch)
        c, self.num_layers = arch['embed_dims'], arch['num_layers']
        self.embed_dims = c
        self.num_storage_tokens = check_int('PEFTDINOv3', 'num_storage_tokens',
                                            num_storage_tokens, 0)
        num_prefix = 1 + self.num_storage_tokens
        self.final_norm = bool(final_norm)
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, c, self.patch_size, self.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.storage_tokens = nn.Parameter(torch.zeros(1, self.num_storage_tokens, c))
        self.rope_embed = DINOv3RotaryEmbedding(c // arch['num_heads'], rope_base,
                                                rope_rescale_coords)
        self.blocks = nn.ModuleList(
            PEFTDINOv3Block(arch, self.rope_embed, num_prefix, float(drop_path_rate),
                            layer_scale_init) for _ in range(self.num_layers))
        self.norm = nn.LayerNorm(c, eps=arch['norm_eps'])
        self._init_official()
        for block in self.blocks:
            keep_k_bias_zero(block.attn.qkv)
        n = self.num_layers
        outs = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        self.out_indices = [i + n if isinstance(i, int) and i < 0 else i for i in outs]
        self.setup_peft(method, trainable, with_cp, num_prefix)

    @classmethod
    def arch_settings(cls, arch: Union[str, dict]) -> dict:
        """The full settings of ``arch`` (a hub name or a dict), checked."""
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise ValueError(f'PEFTDINOv3: unknown arch {arch!r}; one of '
                                 f'{sorted(cls.arch_zoo)} or a dict')
            arch = cls.arch_zoo[arch.lower()]
        if not isinstance(arch, dict):
            raise TypeError(f'PEFTDINOv3: arch must be a str or a dict, got {arch!r}')
        lacking = {'embed_dims', 'num_layers', 'num_heads', 'ffn_ratio'} - set(arch)
        if lacking:
            raise ValueError(f'PEFTDINOv3: arch lacks {sorted(lacking)}: {arch}')
        arch = dict(cls.arch_defaults, **arch)
        if arch['ffn_type'] not in ('mlp', 'swiglu'):
            raise ValueError(f"PEFTDINOv3: ffn_type must be 'mlp' or 'swiglu', got "
                             f"{arch['ffn_type']!r}")
        if arch['embed_dims'] % (4 * arch['num_heads']):
            raise ValueError(f'PEFTDINOv3: the rotary embedding needs head channels (embed_dims '
                             f'/ num_heads) that are a multiple of 4, got {arch}')
        return arch

    def _init_official(self) -> None:
        """The official initialisation (truncated normal 0.02 for Linear weights, normal 0.02
        for the class and storage tokens); a checkpoint replaces it."""
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.storage_tokens, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @property
    def layers(self) -> nn.ModuleList:
        """The blocks (the name the ViT family's helpers use)."""
        return self.blocks

    def describe(self) -> str:
        method = 'no method' if self.method is None else self.method['type']
        return f'PEFTDINOv3({method})'

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.patch_embed.proj(x)
        b, _, h, w = x.shape
        x = torch.cat([self.cls_token.expand(b, -1, -1), self.storage_tokens.expand(b, -1, -1),
                       x.flatten(2).transpose(1, 2)], dim=1)
        return self.run_layers(x, (h, w))

    def output_map(self, x: torch.Tensor, index: int, hw_shape: Sequence[int]) -> torch.Tensor:
        return super().output_map(self.norm(x) if self.final_norm else x, index, hw_shape)

    # ------------------------------------------------------------------ checkpoints
    def unused_checkpoint_key(self, key: str) -> bool:
        return key.startswith('local_cls_norm.') or (key.startswith('norm.')
                                                      and not self.final_norm)

    def fit_checkpoint(self, state: dict, logger: MMLogger) -> None:
        """Refuse a file without the rotary periods, or whose q/k/v bias or storage tokens do
        not fit (naming the setting)."""
        if 'rope_embed.periods' not in state:
            raise CheckpointMismatchError(
                'the DINOv3 checkpoint has no rope_embed.periods: the released files store the '
                '(bfloat16-rounded) rotary periods that the model was trained with; recomputing '
                'them from the base gives another model')
        has_bias = any(k.endswith('attn.qkv.bias') for k in state)
        wants_bias = self.blocks[0].attn.qkv.bias is not None
        if has_bias != wants_bias:
            raise CheckpointMismatchError(
                f'the checkpoint has {"a" if has_bias else "no"} q/k/v bias and '
                f'{self.describe()} {"one" if wants_bias else "none"}: set arch qkv_bias='
                f'{has_bias} (only the 7B has none)')
        tokens = state.get('storage_tokens')
        if tokens is not None and tokens.shape[1] != self.num_storage_tokens:
            raise CheckpointMismatchError(
                f'the checkpoint has {tokens.shape[1]} storage tokens and {self.describe()} '
                f'{self.num_storage_tokens}: set num_storage_tokens={tokens.shape[1]}')
        if not self.final_norm:
            logger.info('final_norm=False: the checkpoint norm is unused')
