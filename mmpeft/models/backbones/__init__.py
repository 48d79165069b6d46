"""PEFT backbones: a base backbone plus a method."""
from .base import PEFTBackboneMixin
from .hst_vit import HSTViT
from .mona_swin import MonaSwinTransformer
from .peft_swin import PEFTSwinBlock, PEFTSwinBlockSequence, PEFTSwinTransformer, SwinBackboneMixin
from .plain_swin import PlainSwinTransformer
from .vpt_swin import VPTSwin

__all__ = [
    'PEFTBackboneMixin', 'HSTViT', 'MonaSwinTransformer', 'PEFTSwinBlock',
    'PEFTSwinBlockSequence', 'PEFTSwinTransformer', 'SwinBackboneMixin', 'PlainSwinTransformer',
    'VPTSwin'
]
