"""mmdet's Swin Transformer with mmpeft's checkpoint detection, for full fine-tuning baselines."""
from mmdet.models.backbones.swin import SwinTransformer

from mmpeft.models.utils import PEFTBackboneMixin, load_swin_checkpoint
from mmpeft.registry import register_model


@register_model
class PlainSwinTransformer(SwinTransformer):
    """mmdet ``SwinTransformer`` with every parameter trainable.

    The baseline backbone of the Mona paper's tables: full fine-tuning as it is, and the fixed,
    BitFit, norm-tuning and partial-1 baselines together with ``FreezeBackboneHook``. It differs
    from mmdet's class only in weight loading: ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``
    accepts the same checkpoint layouts as :class:`MonaSwinTransformer` (auto-detected, through the
    same code) and refuses a file that covers less than 90% of the Swin weights.
    """

    def init_weights(self) -> None:
        """Load the ``Pretrained`` checkpoint, or run mmdet's random init without one."""
        path = PEFTBackboneMixin.pretrained_checkpoint(self)  # type: ignore[arg-type]
        if path is None:
            super().init_weights()
            return
        load_swin_checkpoint(self, path, map_location=self.init_cfg.get('map_location', 'cpu'),
                             pretrained=lambda name: True)
