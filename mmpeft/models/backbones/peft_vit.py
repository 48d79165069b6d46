"""PEFT methods in mmpretrain's plain ViTs: DINOv2 (with or without registers), CLIP and SAM.

:class:`PEFTViT` is mmpretrain's ``VisionTransformer`` (DINOv2, CLIP, timm/MAE ViTs) and
:class:`PEFTSAMViT` its ``ViTSAM`` (Segment Anything's encoder, window attention with relative
positions), each with a method's modules in every layer and frozen but for them. As in
:mod:`.peft_swin`, the layers built by mmpretrain are converted in place into
:class:`~mmpeft.models.backbones.peft_block.PEFTBlockMixin` blocks (every parameter keeps its
name) and run by :func:`~mmpeft.models.backbones.peft_block.run_blocks` on ``(B, N, C)`` tokens
with the unpadded patch grid ``(H, W)`` as ``hw_shape``.

Extra tokens: the class token and DINOv2's register tokens (``[cls, reg x R, patches]``, as the
official code orders them) pass by the modules that work on the token map (those whose forward
needs ``hw_shape``, such as Mona's convolutions), which see the ``H * W`` patch tokens only;
token-wise modules (Adapter, AdaptFormer), LoRA and the token-map modules that take the extra
tokens as 1x1 maps (Convpass, as its reference treats the class token) see every token.

Position embeddings are resized by grid shape (a grid of the same size but another shape gets its
own interpolation) from the checkpoint's grid (``img_size // patch_size``), as each family's
official code does: bicubic to the size (CLIP, SAM as ViTDet, timm), DINOv2's bicubic with a scale
factor offset by ``interpolate_offset`` (0.1) and, for the register models, ``antialias=True`` with
no offset. Neither OpenAI's CLIP nor SAM interpolates (both run at their pretraining size, where
these are the identity). Inputs are padded to a multiple of the patch (bottom/right).

mmpretrain is imported without its heads (see :func:`mmpretrain_vit_modules`). EVA-02 (SwiGLU,
rotary positions) is :class:`~mmpeft.models.backbones.peft_eva02.PEFTEVA02`, on the classes here.
"""
import importlib
import inspect
import math
from functools import lru_cache, partial
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MMLogger

from mmpeft.checkpoint import CheckpointMismatchError, LoadReport, load_foundation_checkpoint
from mmpeft.checkpoint.layouts.foundation import VIT_LAYOUTS
from mmpeft.checkpoint.layouts.vit import rename_keys
from mmpeft.checkpoint.layouts.zoo import VIT_METHOD_RULES
from mmpeft.compat import import_mmpretrain
from mmpeft.models.peft import PEFTModule
from mmpeft.models.utils import check_int, convert_module
from mmpeft.registry import register_model

from .base import PEFTBackboneMixin
from .peft_block import PEFTBlockMixin, insert_method, run_blocks


def mmpretrain_vit_modules():
    """mmpretrain's ``vision_transformer`` and ``vit_sam`` modules.

    ``mmpretrain.models``' ``__init__`` also imports its heads, whose metrics import torchvision,
    which mmpretrain does not declare; without torchvision the package is imported bare
    (:func:`mmpeft.compat.import_mmpretrain`): its backbones import on their own, and
    ``type='mmpretrain.X'`` resolves them. With torchvision, mmpretrain imports as usual.
    """
    import_mmpretrain('mmpretrain.models')
    return (importlib.import_module('mmpretrain.models.backbones.vision_transformer'),
            importlib.import_module('mmpretrain.models.backbones.vit_sam'))


_vit, _sam = mmpretrain_vit_modules()
ViTLayer = _vit.TransformerEncoderLayer
SAMLayer = _sam.TransformerEncoderLayer


@lru_cache(maxsize=None)
def _forward_needs_map(cls: type) -> bool:
    param = inspect.signature(cls.forward).parameters.get('hw_shape')
    return param is not None and param.default is inspect.Parameter.empty


def needs_token_map(module: nn.Module) -> bool:
    """Whether a block-site module works on the ``(H, W)`` token map (its forward requires
    ``hw_shape``: Mona) rather than token by token (Adapter, AdaptFormer)."""
    return _forward_needs_map(type(module))


def sees_patches_only(module: nn.Module) -> bool:
    """Whether the extra tokens pass a block-site module by: it works on the token map and does
    not take them itself (:attr:`~mmpeft.models.peft.PEFTModule.takes_extra_tokens`, Convpass)."""
    return needs_token_map(module) and not getattr(module, 'takes_extra_tokens', False)


def resize_pos_grid(grid: torch.Tensor, size: Sequence[int], mode: str = 'bicubic',
                    offset: float = 0.0, antialias: bool = False) -> torch.Tensor:
    """A ``(1, C, h, w)`` position grid resized to ``size``; the identity at its own size.

    ``offset`` > 0 interpolates with DINOv2's scale factors ``((H + offset) / h, (W + offset) /
    w)`` instead of the size (its "historical kludge", 0.1 in the released models); computed in
    float32, returned in the grid's dtype.
    """
    size = (int(size[0]), int(size[1]))
    h, w = grid.shape[-2:]
    if (h, w) == size:
        return grid
    if offset:
        kw = dict(scale_factor=((size[0] + offset) / h, (size[1] + offset) / w))
    else:
        kw = dict(size=size)
    out = F.interpolate(grid.float(), mode=mode, antialias=antialias, **kw)
    if tuple(out.shape[-2:]) != size:
        raise ValueError(f'position grid {h}x{w} resized to {tuple(out.shape[-2:])}, not {size}')
    return out.to(grid.dtype)


def split_pos_table(table: torch.Tensor) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """``(extra rows (1, f, C), grid (1, C, g, g))`` of a checkpoint's position table: ``(1, f +
    g * g, C)`` with f in (1, 0), or SAM's ``(1, g, g, C)``; None for another shape."""
    if table.ndim == 4:
        return table[:, :0, 0], table.permute(0, 3, 1, 2)
    if table.ndim != 3:
        return None
    for extra in (1, 0):
        side = math.isqrt(table.shape[1] - extra)
        if side * side == table.shape[1] - extra:
            grid = table[:, extra:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
            return table[:, :extra], grid
    return None


def _zero_rows(grad: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    grad = grad.clone()
    grad[start:stop] = 0
    return grad


def keep_k_bias_zero(qkv: nn.Linear) -> None:
    """Give the k rows of a packed q/k/v bias no gradient (models whose k has no bias, such as
    EVA-02 and DINOv3, hold zeros there), so that they stay zero when the ViT trains."""
    if qkv.bias is not None:
        width = qkv.out_features // 3
        qkv.bias.register_hook(partial(_zero_rows, start=width, stop=2 * width))


# ---------------------------------------------------------------------------------- layers
class ViTBlockMixin(PEFTBlockMixin):
    """What the mmpretrain layers share as PEFT blocks: extra tokens routed past the modules that
    need the token map."""
    num_prefix_tokens: int

    def ffn_branch(self, h: torch.Tensor) -> torch.Tensor:
        return self.ffn(h)

    @property
    def qkv(self) -> nn.Linear:
        return self.attn.qkv

    def set_qkv(self, module: nn.Module) -> None:
        self.attn.qkv = module

    @property
    def attn_proj(self) -> nn.Linear:
        return self.attn.proj

    def run_module(self, module: PEFTModule, x: torch.Tensor,
                   hw_shape: Sequence[int]) -> torch.Tensor:
        k = self.num_prefix_tokens
        if not k or not sees_patches_only(module):
            return module(x, hw_shape)
        return torch.cat([x[:, :k], module(x[:, k:], hw_shape)], dim=1)

    def run_module_with_norm(self, module: PEFTModule, x: torch.Tensor, hw_shape: Sequence[int],
                             norm: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
        k = self.num_prefix_tokens
        if not k or not sees_patches_only(module):
            return module.forward_with_norm(x, hw_shape, norm)
        y, h = module.forward_with_norm(x[:, k:], hw_shape, norm)
        extra = x[:, :k]
        return torch.cat([extra, y], dim=1), torch.cat([norm(extra), h], dim=1)


class PEFTViTLayer(ViTBlockMixin, ViTLayer):
    """mmpretrain's ViT ``TransformerEncoderLayer`` as a PEFT block: the attention's drop-path
    (``attn.out_drop``) and the FFN's move into the block; layer scale stays in the branches."""

    @classmethod
    def convert(cls, layer: ViTLayer, num_prefix_tokens: int, with_cp: bool) -> 'PEFTViTLayer':
        """Turn a built layer into a ``PEFTViTLayer`` without modules (in place)."""
        layer = convert_module(layer, ViTLayer, cls, peft_sites={},
                               num_prefix_tokens=num_prefix_tokens, with_cp=with_cp)
        layer.drop_path_attn, layer.attn.out_drop = layer.attn.out_drop, nn.Identity()
        layer.detach_ffn_drop_path()
        return layer

    def attn_branch(self, h: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        return self.attn(h)


class PEFTSAMLayer(ViTBlockMixin, SAMLayer):
    """mmpretrain's SAM ``TransformerEncoderLayer`` as a PEFT block on ``(B, N, C)`` tokens: the
    attention branch reshapes to the ``(B, H, W, C)`` map for its windows; SAM has no drop-path
    on the attention."""

    @classmethod
    def convert(cls, layer: SAMLayer, num_prefix_tokens: int, with_cp: bool) -> 'PEFTSAMLayer':
        """Turn a built layer into a ``PEFTSAMLayer`` without modules (in place)."""
        layer = convert_module(layer, SAMLayer, cls, peft_sites={},
                               num_prefix_tokens=num_prefix_tokens, with_cp=with_cp)
        layer.drop_path_attn = nn.Identity()
        layer.detach_ffn_drop_path()
        return layer

    def attn_branch(self, h: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        b, n, c = h.shape
        hw = (int(hw_shape[0]), int(hw_shape[1]))
        h = h.view(b, *hw, c)
        if self.window_size > 0:
            windows, pad_hw = _sam.window_partition(h, self.window_size)
            h = _sam.window_unpartition(self.attn(windows), self.window_size, pad_hw, hw)
        else:
            h = self.attn(h)
        return h.reshape(b, n, c)


# ------------------------------------------------------------------------------- backbones
class FoundationViTMixin(PEFTBackboneMixin):
    """What :class:`PEFTViT` and :class:`PEFTSAMViT` share: the method in every layer, the
    freezing rule, the outputs and checkpoint loading."""
    #: the PEFT block class of the family's layers
    layer_cls: type = PEFTViTLayer
    #: rows of the position table that are not on the grid (the class token)
    num_table_extra: int = 0
    #: the checkpoint layouts it loads (others are refused by name)
    checkpoint_layouts: Tuple[str, ...] = VIT_LAYOUTS

    @classmethod
    def vit_kwargs(cls, kwargs: dict) -> dict:
        """mmpretrain arguments for a backbone that freezes itself: ``frozen_stages`` > 0 is
        refused, ``pretrained=PATH`` becomes a ``Pretrained`` ``init_cfg``, the outputs are
        feature maps."""
        kwargs = cls.self_freezing_kwargs(kwargs)
        out = kwargs.get('out_indices', -1)
        kwargs['out_indices'] = [out] if isinstance(out, int) else list(out)
        if kwargs.setdefault('out_type', 'featmap') != 'featmap':
            raise ValueError(f"{cls.__name__} returns feature maps (out_type='featmap'), got "
                             f"out_type={kwargs['out_type']!r}")
        return kwargs

    def setup_peft(self, method: Optional[dict], trainable: Optional[Sequence[str]],
                   with_cp: bool, num_prefix_tokens: int) -> None:
        """Convert the layers, insert ``method``, freeze (end of the constructor)."""
        indices = sorted(set(self.out_indices))
        if not indices or not all(0 <= i < self.num_layers for i in indices):
            raise ValueError(f'{type(self).__name__}: out_indices must name layers 0..'
                             f'{self.num_layers - 1}, got {self.out_indices}')
        self.out_indices = indices
        self.num_prefix_tokens = num_prefix_tokens
        for layer in self.layers:
            self.layer_cls.convert(layer, num_prefix_tokens, bool(with_cp))
        self.method = None if method is None else dict(method)
        if method is not None:
            shared = insert_method(self.layers, method, embed=self.patch_embed)
            if shared is not None:
                self.peft_shared = shared
        self.index_method_params()
        self.trainable = None if trainable is None else list(trainable)
        self._trainable_names = self.params_named_by(trainable)
        self.freeze_backbone()

    def peft_blocks(self) -> Sequence[PEFTBlockMixin]:
        return list(self.layers)

    # ------------------------------------------------------------------ freezing
    def is_trainable_param(self, name: str) -> bool:
        """The method's parameters and those named by ``trainable`` (all with None)."""
        return (self._trainable_names is None or name in self._trainable_names
                or self.is_method_param(name))

    def is_pretrained_param(self, name: str) -> bool:
        """Every ViT weight comes from the checkpoint (trained or not); the method's do not."""
        return not self.is_method_param(name) and not self.is_method_state(name)

    def describe(self) -> str:
        method = 'no method' if self.method is None else self.method['type']
        return f'{type(self).__name__}({method})'

    # ------------------------------------------------------------------ forward
    def resize_grid(self, grid: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """The family's interpolation of a ``(1, C, h, w)`` position grid."""
        return resize_pos_grid(grid, size, self.interpolate_mode)

    def run_layers(self, x: torch.Tensor, hw_shape: Sequence[int]) -> Tuple[torch.Tensor, ...]:
        """The layers up to the last of ``out_indices`` on ``(B, N, C)`` tokens; the maps."""
        outs, start = [], 0
        for end in self.out_indices:
            x = run_blocks(self.layers[start:end + 1], x, hw_shape)
            start = end + 1
            outs.append(self.output_map(x, end, hw_shape))
        return tuple(outs)

    def output_map(self, x: torch.Tensor, index: int, hw_shape: Sequence[int]) -> torch.Tensor:
        """The ``(B, C, H, W)`` map of the patch tokens after layer ``index``."""
        b, _, c = x.shape
        patches = x[:, self.num_prefix_tokens:]
        return patches.reshape(b, int(hw_shape[0]), int(hw_shape[1]), c).permute(0, 3, 1, 2)

    # ------------------------------------------------------------------ checkpoints
    def load_pretrained(self, checkpoint: str, map_location: str = 'cpu',
                        allow_missing: bool = False) -> LoadReport:
        """Load a file of one of :attr:`checkpoint_layouts` (auto-detected, see
        :mod:`mmpeft.checkpoint.layouts.foundation`)."""
        report = load_foundation_checkpoint(
            self, checkpoint, adapt=lambda state, _, logger: self.fit_checkpoint(state, logger),
            unused=self.unused_checkpoint_key, layouts=self.checkpoint_layouts,
            map_location=map_location, pretrained=self.is_pretrained_param,
            allow_missing=allow_missing)
        self.freeze_backbone()
        return report

    def unused_checkpoint_key(self, key: str) -> bool:
        """Keys of a checkpoint that this backbone does not use (dropped, logged)."""
        return False

    def method_checkpoint_state(self, state: dict) -> dict:
        """A method-only file in timm's names (PETL-ViT's FacT and Convpass, SSF) -> this
        backbone's."""
        return rename_keys(state, VIT_METHOD_RULES)

    def fit_checkpoint(self, state: dict, logger: MMLogger) -> None:
        """Resize the file's position table to this model's grid with the family's interpolation
        (one more interpolation than from a file of the model's own ``img_size``)."""
        table, own = state.get('pos_embed'), getattr(self, 'pos_embed', None)
        if table is None or own is None or table.shape == own.shape:
            return
        split = split_pos_table(table)
        if split is None or split[0].shape[1] < self.num_table_extra:
            return  # left for the shape check to refuse
        extra, grid = split
        resized = self.resize_grid(grid, self.patch_resolution)
        logger.info(f'resized the checkpoint position table from a {grid.shape[-2]}x'
                    f'{grid.shape[-1]} to the {resized.shape[-2]}x{resized.shape[-1]} grid of '
                    f'img_size {tuple(self.img_size)}')
        state['pos_embed'] = self.pack_pos_table(extra[:, :self.num_table_extra], resized)

    def pack_pos_table(self, extra: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """This model's position table from its extra rows and a ``(1, C, h, w)`` grid."""
        return torch.cat([extra, grid.flatten(2).transpose(1, 2)], dim=1)


class ClassTokenViTMixin(FoundationViTMixin):
    """What :class:`PEFTViT` and :class:`~mmpeft.models.backbones.peft_eva02.PEFTEVA02` share:
    a class token before the patches, a flat ``(1, extra + h * w, C)`` position table resized to
    each grid, and ``ln1`` after the last layer when ``final_norm``."""

    def pos_embed_for(self, hw_shape: Sequence[int]) -> torch.Tensor:
        """The position table ``(1, extra + H * W, C)`` for a ``hw_shape`` patch grid."""
        e = self.num_extra_tokens
        grid = self.pos_embed[:, e:].reshape(1, *self.patch_resolution, -1).permute(0, 3, 1, 2)
        resized = self.resize_grid(grid, hw_shape)
        if resized is grid:
            return self.pos_embed
        return self.pack_pos_table(self.pos_embed[:, :e], resized)

    def embed_tokens(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """``(tokens (B, e + H * W, C), (H, W))`` of images: the class token (e = 1, if any)
        before the patches, the position table added."""
        b = x.shape[0]
        x, hw_shape = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)
        return x + self.pos_embed_for(hw_shape), hw_shape

    def output_map(self, x: torch.Tensor, index: int, hw_shape: Sequence[int]) -> torch.Tensor:
        if index == self.num_layers - 1 and self.final_norm:
            x = self.ln1(x)
        return super().output_map(x, index, hw_shape)

    def unused_checkpoint_key(self, key: str) -> bool:
        return key.startswith('ln1.') and not self.final_norm


@register_model
class PEFTViT(ClassTokenViTMixin, _vit.VisionTransformer):
    """mmpretrain ``VisionTransformer`` (DINOv2, CLIP, timm/MAE ViTs) with a PEFT method in every
    layer; only the method trains (and what ``trainable`` names).

    Examples (``configs/_base_/dinov2_vit-b.py`` has the full settings)::

        PEFTViT(arch='dinov2-base', patch_size=14, img_size=518, layer_scale_init_value=1e-5,
                interpolate_offset=0.1, out_indices=(11,), method=dict(type='Mona'))
        PEFTViT(..., num_register_tokens=4, interpolate_offset=0., interpolate_antialias=True)
        PEFTViT(arch='base', patch_size=16, img_size=224, pre_norm=True,
                norm_cfg=dict(type='LN', eps=1e-5),
                layer_cfgs=dict(act_cfg=dict(type='mmpretrain.QuickGELU')), ...)  # CLIP ViT-B/16

    Args:
        method: the PEFT method and its settings (``dict(type='Mona')``, ``'LoRA'``,
            ``'Adapter'``, ``'AdaptFormer'``); None inserts nothing.
        trainable: name patterns of ViT parameters that train besides the method's (a pattern
            is a substring of the name, see :mod:`mmpeft.models.utils.freeze`); ``()`` (default)
            none, None every parameter (full fine-tuning).
        num_register_tokens: DINOv2's register tokens (``register_tokens``, (1, R, C)), put
            between the class token and the patches after the position embedding.
        interpolate_offset: DINOv2's scale-factor offset of the position interpolation (0.1 for
            its models without registers, 0 for those with).
        interpolate_antialias: DINOv2's antialiased bicubic (True for its register models).
        with_cp: recompute every layer in backward.
        **kwargs: mmpretrain ``VisionTransformer`` arguments; ``img_size`` sets the position
            table's grid (use the pretraining size: 518 for DINOv2, 224 for CLIP); outputs are the
            ``(B, C, H, W)`` patch maps after ``out_indices`` (the last one through ``ln1`` if
            ``final_norm``). ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` loads the
            official or mmpretrain layouts (auto-detected).
    """
    layer_cls = PEFTViTLayer

    def __init__(self, *, method: Optional[dict] = None,
                 trainable: Optional[Sequence[str]] = (), num_register_tokens: int = 0,
                 interpolate_offset: float = 0.0, interpolate_antialias: bool = False,
                 with_cp: bool = False, **kwargs) -> None:
        super().__init__(**self.vit_kwargs(kwargs))
        self.num_table_extra = self.num_extra_tokens
        self.num_register_tokens = check_int(type(self).__name__, 'num_register_tokens',
                                             num_register_tokens, 0)
        self.register_tokens = None
        if self.num_register_tokens:
            self.register_tokens = nn.Parameter(
                torch.zeros(1, self.num_register_tokens, self.embed_dims).normal_(std=1e-6))
        self.interpolate_offset = float(interpolate_offset)
        self.interpolate_antialias = bool(interpolate_antialias)
        self.setup_peft(method, trainable, with_cp,
                        self.num_extra_tokens + self.num_register_tokens)

    def resize_grid(self, grid: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return resize_pos_grid(grid, size, self.interpolate_mode, self.interpolate_offset,
                               self.interpolate_antialias)

    @classmethod
    def upstream_config(cls, cfg: dict) -> dict:
        """mmpretrain's ``VisionTransformer`` returning feature maps; DINOv2's register tokens
        and position interpolation have no mmpretrain equivalent and are refused."""
        own = dict(num_register_tokens=0, interpolate_offset=0., interpolate_antialias=False)
        other = {k: cfg[k] for k, default in own.items() if cfg.get(k, default) != default}
        if other:
            raise NotImplementedError(
                f'{cls.__name__} with {other} has no mmpretrain equivalent (mmpretrain\'s '
                'VisionTransformer has no register tokens and interpolates positions by size '
                'only); export it without merging')
        dropped = set(own) | {'type', 'method', 'trainable', 'with_cp'}
        return dict({k: v for k, v in cfg.items() if k not in dropped},
                    type='mmpretrain.VisionTransformer', out_type='featmap')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, hw_shape = self.embed_tokens(x)
        if self.register_tokens is not None:
            e = self.num_extra_tokens
            regs = self.register_tokens.expand(x.shape[0], -1, -1)
            x = torch.cat([x[:, :e], regs, x[:, e:]], dim=1)
        x = self.pre_norm(self.drop_after_pos(x))
        return self.run_layers(x, hw_shape)

    def fit_checkpoint(self, state: dict, logger: MMLogger) -> None:
        regs = state.get('register_tokens')
        if regs is not None and self.register_tokens is None:
            raise CheckpointMismatchError(
                f'the checkpoint has {regs.shape[1]} register tokens (a DINOv2 register model) '
                f'and {self.describe()} none: set num_register_tokens={regs.shape[1]}, '
                'interpolate_offset=0. and interpolate_antialias=True')
        super().fit_checkpoint(state, logger)


@register_model
class PEFTSAMViT(FoundationViTMixin, _sam.ViTSAM):
    """mmpretrain ``ViTSAM`` (Segment Anything's image encoder: window attention, relative
    positions, global attention in ``global_attn_indexes``) with a PEFT method in every layer;
    only the method trains (and what ``trainable`` names).

    Args:
        method, trainable, with_cp: as :class:`PEFTViT`.
        **kwargs: mmpretrain ``ViTSAM`` arguments (``img_size=1024`` is SAM's table;
            ``out_channels=0`` drops SAM's 256-channel neck, e.g. before a SimpleFPN). Loads SAM
            checkpoints (``image_encoder.*``), mmpretrain's layout and plain timm/MAE ViTs (their
            table without the class row).
    """
    layer_cls = PEFTSAMLayer

    def __init__(self, *, method: Optional[dict] = None,
                 trainable: Optional[Sequence[str]] = (), with_cp: bool = False,
                 **kwargs) -> None:
        super().__init__(**self.vit_kwargs(kwargs))
        self.setup_peft(method, trainable, with_cp, 0)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos:
            grid = self.resize_grid(self.pos_embed.permute(0, 3, 1, 2), hw_shape)
            x = self.drop_after_pos(x + grid.flatten(2).transpose(1, 2))
        return self.run_layers(x, hw_shape)

    def output_map(self, x: torch.Tensor, index: int, hw_shape: Sequence[int]) -> torch.Tensor:
        x = super().output_map(x, index, hw_shape)
        return self.channel_reduction(x) if self.out_channels > 0 else x

    def pack_pos_table(self, extra: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        return grid.permute(0, 2, 3, 1)

    def unused_checkpoint_key(self, key: str) -> bool:
        return key == 'cls_token' or key.startswith('ln1.') or (
            key.startswith('channel_reduction.') and self.out_channels == 0)
