"""mmdet's Swin Transformer with mmpeft's checkpoint loading: full fine-tuning and the paper's
trivial baselines (fixed, BitFit, norm-tuning, partial-1)."""
from typing import Optional, Sequence

from mmdet.models.backbones.swin import SwinTransformer

from mmpeft.registry import register_model

from .peft_swin import SwinBackboneMixin


@register_model
class PlainSwinTransformer(SwinBackboneMixin, SwinTransformer):
    """mmdet ``SwinTransformer`` that trains everything, or the parameters named by patterns.

    ``trainable=None`` (default): full fine-tuning. ``trainable=[...]``: a parameter trains iff one
    pattern is a substring of its name (:mod:`mmpeft.models.utils.freeze`); the Mona paper's
    baselines are ``[]`` (fixed), ``['bias']`` (BitFit), ``['norm']`` (norm-tuning) and
    ``['stages.3.blocks.1']`` (partial-1). ``frozen=[...]`` patterns freeze parameters that would
    otherwise train (``['patch_embed']``: the official VOC runs' ``frozen_stages=1``). The rest is
    frozen in the constructor, before DDP and the optimizer are built.
    ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` accepts the same checkpoint layouts as
    :class:`MonaSwinTransformer` and requires every Swin weight from it.

    Args:
        trainable: name patterns of the parameters that train; None trains all.
        frozen: name patterns of parameters that never train (applied after ``trainable``).
        **kwargs: mmdet ``SwinTransformer`` arguments (``frozen_stages`` > 0 is refused: use
            patterns).
    """

    def __init__(self, *, trainable: Optional[Sequence[str]] = None,
                 frozen: Optional[Sequence[str]] = None, **kwargs) -> None:
        super().__init__(**self.self_freezing_kwargs(kwargs))
        self.trainable = None if trainable is None else list(trainable)
        self.frozen = list(frozen or [])
        self._trainable_names = self.params_named_by(trainable)
        self._frozen_names = self.params_named_by(self.frozen)
        self.freeze_backbone()

    def is_trainable_param(self, name: str) -> bool:
        frozen = name in getattr(self, '_frozen_names', ())
        return not frozen and (self._trainable_names is None or name in self._trainable_names)

    def peft_blocks(self) -> Sequence:
        """None: the blocks are mmdet's own."""
        return []

    def is_pretrained_param(self, name: str) -> bool:
        """Every Swin weight comes from the checkpoint (frozen or not)."""
        return True
