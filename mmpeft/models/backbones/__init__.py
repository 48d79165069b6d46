"""PEFT backbones."""
from .mona_swin import MonaSwinBlock, MonaSwinTransformer
from .plain_swin import PlainSwinTransformer

__all__ = ['MonaSwinBlock', 'MonaSwinTransformer', 'PlainSwinTransformer']
