"""Adapter modules inserted into frozen backbones."""
from .mona import Mona, MonaConv

__all__ = ['Mona', 'MonaConv']
