"""PEFT backbones."""
from .mona_swin import MonaSwinBlock, MonaSwinTransformer
from .plain_swin import PlainSwinTransformer
from .vpt_swin import VPTSwin

__all__ = ['MonaSwinBlock', 'MonaSwinTransformer', 'PlainSwinTransformer', 'VPTSwin']
