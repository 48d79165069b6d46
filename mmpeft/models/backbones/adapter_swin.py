"""mmdet's Swin Transformer with the Mona paper's adapter baselines: Adapter and AdaptFormer."""
from mmpeft.registry import register_model

from .peft_swin import PEFTSwinTransformer


@register_model
class AdapterSwinTransformer(PEFTSwinTransformer):
    """mmdet ``SwinTransformer`` with two sequential :class:`~mmpeft.models.peft.Adapter` s per
    block (``adapter1`` on the attention branch, ``adapter2`` on the FFN branch); only they train.
    Swin-B: 3,107,328 trainable parameters, Swin-L 4,659,456.

    Args:
        adapter_cfg: :class:`~mmpeft.models.peft.Adapter` settings (paper defaults:
            ``inner_dims=64, dropout=0.1, reference='mona'``: before the drop-path, trunc-normal
            init, as the official Mona repo; ``reference='star'``: after it, PyTorch init, as
            STAR-MMRotate).
        **kwargs: as :class:`PEFTSwinTransformer` (mmdet ``SwinTransformer`` arguments).
    """
    method_type, method_arg = 'Adapter', 'adapter_cfg'


@register_model
class AdaptFormerSwinTransformer(PEFTSwinTransformer):
    """mmdet ``SwinTransformer`` with one parallel :class:`~mmpeft.models.peft.AdaptFormer` per
    block (``adapter``, beside the FFN, scale 0.1); only they train. Swin-B: 1,553,664 trainable
    parameters, Swin-L 2,329,728.

    Args:
        adaptformer_cfg: :class:`~mmpeft.models.peft.AdaptFormer` settings (paper defaults:
            ``inner_dims=64, dropout=0.1, scale=0.1, reference='mona'``).
        **kwargs: as :class:`PEFTSwinTransformer` (mmdet ``SwinTransformer`` arguments).
    """
    method_type, method_arg = 'AdaptFormer', 'adaptformer_cfg'
