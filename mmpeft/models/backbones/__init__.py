"""PEFT backbones."""
from .hst_vit import HSTViT
from .mona_swin import MonaSwinBlock, MonaSwinTransformer
from .plain_swin import PlainSwinTransformer
from .vpt_swin import VPTSwin

__all__ = ['HSTViT', 'MonaSwinBlock', 'MonaSwinTransformer', 'PlainSwinTransformer', 'VPTSwin']
