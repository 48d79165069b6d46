"""Necks for the plain-ViT backbones (a feature pyramid from one stride-16 map)."""
from .simple_fpn import LayerNorm2d, SimpleFPN

__all__ = ['LayerNorm2d', 'SimpleFPN']
