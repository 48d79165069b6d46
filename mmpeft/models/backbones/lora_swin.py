"""mmdet's Swin Transformer with the Mona paper's low-rank baselines: LoRA and LoRand."""
from mmpeft.models.peft import merge_lora
from mmpeft.registry import register_model

from .peft_swin import PEFTSwinTransformer


@register_model
class LoRASwinTransformer(PEFTSwinTransformer):
    """mmdet ``SwinTransformer`` whose window attentions' ``qkv`` carry a
    :class:`~mmpeft.models.peft.LoRA` update of q and v; only ``lora_A``/``lora_B`` train. Swin-B:
    3,080,192 trainable parameters, Swin-L 4,620,288.

    :meth:`merge` folds the updates into ``qkv.weight`` for inference (explicitly; checkpoints
    always hold the unmerged weights).

    Args:
        lora_cfg: :class:`~mmpeft.models.peft.LoRA` settings (paper defaults:
            ``rank=64, alpha=1, dropout=0, targets=('q', 'v')``).
        **kwargs: as :class:`PEFTSwinTransformer` (mmdet ``SwinTransformer`` arguments).
    """
    method_type, method_arg = 'LoRA', 'lora_cfg'

    def merge(self, merge: bool = True) -> int:
        """Merge (``merge=False``: unmerge) every LoRA layer; returns how many changed."""
        return merge_lora(self, merge)


@register_model
class LoRandSwinTransformer(PEFTSwinTransformer):
    """mmdet ``SwinTransformer`` with two :class:`~mmpeft.models.peft.LoRand` adapters per block
    (``lorand1``/``lorand2``, after the drop-path of the attention and the FFN branch, as
    STAR-MMRotate); only they train. Swin-B: 2,370,816 trainable parameters, Swin-L 3,543,936.

    Args:
        lorand_cfg: :class:`~mmpeft.models.peft.LoRand` settings (paper defaults:
            ``factor=2, num_branch=4, kernel_dim=8``).
        **kwargs: as :class:`PEFTSwinTransformer` (mmdet ``SwinTransformer`` arguments).
    """
    method_type, method_arg = 'LoRand', 'lorand_cfg'
