"""Swin Transformer with Mona adapters (Mona, CVPR 2025) on top of mmdet's SwinTransformer."""
from mmpeft.registry import register_model

from .peft_swin import PEFTSwinTransformer


@register_model
class MonaSwinTransformer(PEFTSwinTransformer):
    """mmdet ``SwinTransformer`` with two Mona adapters in every block; only the adapters train.

    ``mona1`` follows the attention residual and ``mona2`` the FFN residual of each block (outside
    the drop-path), fed the block's unpadded ``hw_shape``: the official Mona-Swin. Official Mona
    checkpoints (``my_module_1/2``) load as ``mona1/2``. Swin-B: 3,667,456 trainable parameters.

    Args:
        mona_cfg: keyword arguments of :class:`~mmpeft.models.peft.Mona` besides ``in_dims``
            (paper defaults: ``inner_dims=64, dropout=0.1``).
        **kwargs: as :class:`PEFTSwinTransformer` (mmdet ``SwinTransformer`` arguments).
    """
    method_type, method_arg = 'Mona', 'mona_cfg'
