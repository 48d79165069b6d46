"""PEFT methods in EVA-02 (Fang et al., 2023): mmpretrain's ``ViTEVA02`` with the official rotary
position embedding.

:class:`PEFTEVA02` is mmpretrain's ``ViTEVA02`` (SwiGLU FFN ``mlp.w12`` / ``mlp.w3``, its sub-LN
``mlp.norm`` in B and L, no layer scale, a class token, patch 14) with its layers converted in
place into :class:`PEFTEVA02Layer` blocks (parameter names unchanged) and run, as the other
foundation ViTs (:mod:`.peft_vit`), on ``(B, 1 + H * W, C)`` tokens with the patch grid ``(H, W)``:
a block is ``x + DropPath(attn(norm1(x), hw))`` then ``x + DropPath(mlp(norm2(x)))``, with the
method's modules at their sites (Mona after each residual add, outside the drop-path, on the patch
tokens only).

Rotary embedding (:class:`EVA02RotaryEmbedding`): mmpretrain's ``RotaryEmbeddingFast`` builds
another table than EVA-02's ``VisionRotaryEmbeddingFast`` (positions scaled to ``head_dim / 2``
instead of the pretraining grid, frequencies tiled instead of repeated pairwise), so the layers
use the official one instead, computed for the actual grid of every forward. EVA-02's code builds
its table for one square grid of ``n`` patches a side (``ft_seq_len``; ``pt_seq_len`` = 16, the
224 px pretraining grid) with positions ``arange(n) / n * 16``: its fine-tuning at 448 px and its
ViTDet backbone (``det/``, ``ft_seq_len`` = the input grid) are that formula at other ``n``. Here
each axis gets it with its own size (``arange(H) / H * 16``, ``arange(W) / W * 16``): the
official table on every square grid, and its per-axis form on the others (which the official code
never builds).
"""
import importlib
from typing import Optional, Sequence, Tuple

import torch
from mmengine.logging import MMLogger

from mmpeft.checkpoint import CheckpointMismatchError
from mmpeft.checkpoint.layouts.foundation import EVA02_LAYOUTS
from mmpeft.models.utils import check_int, convert_module
from mmpeft.registry import register_model

from .peft_vit import ClassTokenViTMixin, ViTBlockMixin, keep_k_bias_zero, mmpretrain_vit_modules
from .rotary import GridRotaryEmbedding

mmpretrain_vit_modules()  # mmpretrain.models as a bare package when torchvision is missing
_eva02 = importlib.import_module('mmpretrain.models.backbones.vit_eva02')
EVA02Layer = _eva02.EVA02EndcoderLayer


class EVA02RotaryEmbedding(GridRotaryEmbedding):
    """EVA-02's 2-D rotary position embedding of the patch tokens, for any ``(H, W)`` grid.

    Each head's channels are split in halves, the first rotated by the row, the second by the
    column: per axis of ``n`` patches, position ``t = arange(n) / n * pt_seq_len`` and ``head_dims
    / 4`` frequencies ``theta ** (-2 i / (head_dims / 2))``, each used for one adjacent channel
    pair (``x_{2j}, x_{2j+1}`` -> ``x_{2j} cos - x_{2j+1} sin, x_{2j+1} cos + x_{2j} sin``).
    The table is computed in float32 (kept for the last grid and device); nothing is saved in the
    state dict.

    Args:
        head_dims: channels per attention head (a multiple of 4).
        pt_seq_len: the pretraining grid side that the positions are scaled to (16 for every
            released EVA-02: 224 px, patch 14).
        theta: the frequency base.
    """

    def __init__(self, head_dims: int, pt_seq_len: int = 16, theta: float = 10000.) -> None:
        super().__init__(head_dims)
        self.pt_seq_len = check_int('EVA02RotaryEmbedding', 'pt_seq_len', pt_seq_len, 1)
        self.theta = float(theta)

    def axis_angles(self, n: int, device: torch.device) -> torch.Tensor:
        """``(n, head_dims / 2)`` angles of one axis of ``n`` patches (each frequency twice)."""
        dim = self.head_dims // 2
        freqs = 1. / (self.theta**(torch.arange(0, dim, 2, device=device).float() / dim))
        t = torch.arange(n, device=device) / n * self.pt_seq_len
        return torch.outer(t, freqs).repeat_interleave(2, dim=-1)

    def angles(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        dim = self.head_dims // 2
        return torch.cat([self.axis_angles(h, device)[:, None].expand(h, w, dim),
                          self.axis_angles(w, device)[None].expand(h, w, dim)],
                         dim=-1).reshape(h * w, -1)

    def partner(self, x: torch.Tensor) -> torch.Tensor:
        pairs = x.unflatten(-1, (-1, 2))
        return torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)

    def extra_repr(self) -> str:
        return f'head_dims={self.head_dims}, pt_seq_len={self.pt_seq_len}, theta={self.theta:g}'


class PEFTEVA02Layer(ViTBlockMixin, EVA02Layer):
    """mmpretrain's ``EVA02EndcoderLayer`` as a PEFT block: its one drop-path serves both
    branches, the attention gets the grid for its rotary embedding, the FFN is the SwiGLU."""

    @classmethod
    def convert(cls, layer: EVA02Layer, num_prefix_tokens: int,
                with_cp: bool) -> 'PEFTEVA02Layer':
        """Turn a built layer into a ``PEFTEVA02Layer`` without modules (in place)."""
        layer = convert_module(layer, EVA02Layer, cls, peft_sites={},
                               num_prefix_tokens=num_prefix_tokens, with_cp=with_cp)
        layer.drop_path_attn = layer.drop_path
        layer.drop_path_ffn = layer.drop_path
        return layer

    def attn_branch(self, h: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        return self.attn(h, hw_shape)

    def ffn_branch(self, h: torch.Tensor) -> torch.Tensor:
        return self.mlp(h)


@register_model
class PEFTEVA02(ClassTokenViTMixin, _eva02.ViTEVA02):
    """EVA-02 (mmpretrain ``ViTEVA02`` with the official rotary embedding) with a PEFT method in
    every layer; only the method trains (and what ``trainable`` names).

    Example (``configs/_base_/foundation_vits.py`` has the full settings)::

        PEFTEVA02(arch='b', patch_size=14, img_size=224, sub_ln=True,
                  norm_cfg=dict(type='LN', eps=1e-6), final_norm=False, out_indices=(11, ),
                  method=dict(type='Mona'))

    Args:
        method, trainable, with_cp: as :class:`~mmpeft.models.backbones.peft_vit.PEFTViT`
            (``'Mona'``, ``'LoRA'`` on ``attn.qkv``, ``'Adapter'``, ``'AdaptFormer'``,
            ``'LoRand'``).
        rope_pt_seq_len: the grid side the rotary positions are scaled to (16, the official value
            for every EVA-02 model, whatever ``img_size``).
        rope_theta: the rotary frequency base.
        **kwargs: mmpretrain ``ViTEVA02`` arguments: ``arch`` (``'t'``, ``'s'``, ``'b'``, ``'l'``
            or a dict), ``sub_ln`` (True for B and L), ``img_size`` (the position table's grid:
            224 for the released models), ``norm_cfg`` (EVA-02 uses eps 1e-6), ``final_norm``
            (``ln1`` on the last map, loaded from the file's ``norm``). Loads EVA-02's files,
            mmpretrain's converted ones and mmpeft's own (auto-detected).

    The k rows of ``attn.qkv.bias`` (EVA-02's k has no bias) are zeros from the file and get no
    gradient when the ViT trains.
    """
    layer_cls = PEFTEVA02Layer
    checkpoint_layouts = EVA02_LAYOUTS

    def __init__(self, *, method: Optional[dict] = None,
                 trainable: Optional[Sequence[str]] = (), rope_pt_seq_len: int = 16,
                 rope_theta: float = 10000., with_cp: bool = False, **kwargs) -> None:
        if not kwargs.get('with_cls_token', True):
            raise ValueError('PEFTEVA02: EVA-02 has a class token (with_cls_token=True)')
        arch = kwargs.get('arch', 'tiny')
        arch = self.arch_zoo.get(arch.lower(), {}) if isinstance(arch, str) else arch
        if arch.get('embed_dims', 0) // max(arch.get('num_heads', 1), 1) % 4:
            # before mmpretrain's own table, which fails obscurely for such heads
            raise ValueError(f'PEFTEVA02: the rotary embedding needs head channels (embed_dims '
                             f'/ num_heads) that are a multiple of 4, got {arch}')
        sub_ln = bool(kwargs.get('sub_ln', False))
        super().__init__(**self.vit_kwargs(kwargs))
        self.sub_ln = sub_ln
        self.num_table_extra = self.num_extra_tokens
        head_dims = self.embed_dims // self.num_heads
        self.rope = EVA02RotaryEmbedding(head_dims, rope_pt_seq_len, rope_theta)
        for layer in self.layers:
            layer.attn.rope = self.rope
            keep_k_bias_zero(layer.attn.qkv)
        self.setup_peft(method, trainable, with_cp, self.num_extra_tokens)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x, hw_shape = self.embed_tokens(x)
        x = self.pre_norm(self.drop_after_pos(x))
        return self.run_layers(x, hw_shape)

    def unused_checkpoint_key(self, key: str) -> bool:
        return super().unused_checkpoint_key(key) or key.startswith('ln2.')

    def fit_checkpoint(self, state: dict, logger: MMLogger) -> None:
        if not self.sub_ln and any('.mlp.norm.' in k for k in state):
            raise CheckpointMismatchError(
                f'the checkpoint has the SwiGLU sub-LN (mlp.ffn_ln: EVA-02 B or L) and '
                f'{self.describe()} none: set sub_ln=True')
        super().fit_checkpoint(state, logger)
