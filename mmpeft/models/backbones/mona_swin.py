"""Swin Transformer with Mona adapters (Mona, CVPR 2025) on top of mmdet's SwinTransformer."""
from typing import Optional, Sequence

import torch
import torch.utils.checkpoint as cp
from mmdet.models.backbones.swin import SwinBlock, SwinBlockSequence, SwinTransformer

from mmpeft.models.adapters import Mona
from mmpeft.models.utils import SwinPEFTBackboneMixin, module_prefixes, under_prefixes
from mmpeft.registry import register_model


class MonaSwinBlock(SwinBlock):
    """mmdet ``SwinBlock`` with Mona #1 after the attention residual and Mona #2 after the FFN
    residual (outside the drop-path), both fed the block's unpadded ``hw_shape``.

    mmdet's ``SwinTransformer`` builds its blocks itself, so blocks are converted in place with
    :meth:`convert` (``block.__class__`` is swapped and ``mona1``/``mona2`` attached). Parameter
    names of the Swin part therefore stay mmdet's.
    """
    mona1: Mona
    mona2: Mona

    @classmethod
    def convert(cls, block: SwinBlock, mona_cfg: dict) -> 'MonaSwinBlock':
        """Turn a built mmdet ``SwinBlock`` into a ``MonaSwinBlock`` (in place)."""
        if type(block) is not SwinBlock:
            raise TypeError(f'expected an mmdet SwinBlock, got {type(block).__name__}')
        dims = block.norm1.normalized_shape[0]
        block.__class__ = cls
        block.mona1 = Mona(dims, **mona_cfg)
        block.mona2 = Mona(dims, **mona_cfg)
        return block  # type: ignore[return-value]

    def _forward(self, x: torch.Tensor, hw_shape: Sequence[int], pending: Optional[Mona] = None,
                 defer: bool = False) -> torch.Tensor:
        if pending is None:
            identity, h = x, self.norm1(x)
        else:  # the previous block's Mona #2, recomputed together with this block's norm1
            identity, h = pending.forward_with_norm(x, hw_shape, self.norm1)
        x = self.attn(h, hw_shape) + identity
        x, h = self.mona1.forward_with_norm(x, hw_shape, self.norm2)
        x = self.ffn(h, identity=x)
        return x if defer else self.mona2(x, hw_shape)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int], pending: Optional[Mona] = None,
                defer: bool = False) -> torch.Tensor:
        """One block. ``pending``: the previous block's Mona #2, still to apply to ``x``;
        ``defer``: return the output before this block's Mona #2 (the next block applies it)."""
        if self.with_cp and torch.is_grad_enabled():
            # non-reentrant: adapter params get grads even if x does not require grad
            return cp.checkpoint(self._forward, x, hw_shape, pending, defer, use_reentrant=False)
        return self._forward(x, hw_shape, pending, defer)


class MonaSwinBlockSequence(SwinBlockSequence):
    """mmdet ``SwinBlockSequence`` of :class:`MonaSwinBlock` s.

    With recomputing adapters (``with_cp``), a block's Mona #2 is applied by the next block of the
    stage together with that block's norm1 (:meth:`Mona.forward_with_norm`), so the adapter output
    is not stored for backward. Same function and gradients either way.
    """

    @classmethod
    def convert(cls, stage: SwinBlockSequence, mona_cfg: dict) -> 'MonaSwinBlockSequence':
        """Turn a built mmdet ``SwinBlockSequence`` and its blocks into the Mona versions."""
        if type(stage) is not SwinBlockSequence:
            raise TypeError(f'expected an mmdet SwinBlockSequence, got {type(stage).__name__}')
        stage.__class__ = cls
        for block in stage.blocks:
            MonaSwinBlock.convert(block, mona_cfg)
        return stage  # type: ignore[return-value]

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]):
        pending = None
        for i, block in enumerate(self.blocks):
            defer = i + 1 < len(self.blocks) and block.mona2._recompute()
            x = block(x, hw_shape, pending, defer)
            pending = block.mona2 if defer else None
        if self.downsample:
            x_down, down_hw_shape = self.downsample(x, hw_shape)
            return x_down, down_hw_shape, x, hw_shape
        return x, hw_shape, x, hw_shape


@register_model
class MonaSwinTransformer(SwinPEFTBackboneMixin, SwinTransformer):
    """mmdet ``SwinTransformer`` with two Mona adapters in every block; only the adapters train.

    Everything else (patch embedding, blocks, PatchMerging, output norms ``norm{i}``, which stay at
    weight 1 / bias 0) is frozen in the constructor; ``init_weights()``, checkpoint loading and
    ``train()`` re-assert it. Frozen modules stay in train mode (drop-path active), as in the
    official code.

    Args:
        mona_cfg: keyword arguments of :class:`~mmpeft.models.adapters.Mona` besides ``in_dims``
            (default ``dict(inner_dims=64, dropout=0.1)``).
        **kwargs: mmdet ``SwinTransformer`` arguments. ``init_cfg=dict(type='Pretrained',
            checkpoint=PATH)`` (or ``pretrained=PATH``) loads Microsoft, official-Mona, mmdet/mmseg
            or mmpeft Swin checkpoints, auto-detected (``convert_weights`` is not needed and
            ignored). ``frozen_stages`` > 0 is refused: mmdet's semantics would freeze adapters.
    """

    def __init__(self, *, mona_cfg: Optional[dict] = None, **kwargs) -> None:
        super().__init__(**self.swin_kwargs(kwargs))
        self.mona_cfg = dict(inner_dims=64, dropout=0.1)
        self.mona_cfg.update(mona_cfg or {})
        for stage in self.stages:
            MonaSwinBlockSequence.convert(stage, self.mona_cfg)
        self._adapter_prefixes = module_prefixes(self, (Mona, ))
        self.freeze_backbone()

    def is_trainable_param(self, name: str) -> bool:
        """Only parameters of the Mona adapters train."""
        return under_prefixes(name, self._adapter_prefixes)

