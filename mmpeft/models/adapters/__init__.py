"""Adapter modules inserted into frozen backbones."""
from .hst import FeatureBridge, SideBlock, SideStage
from .mona import Mona, MonaConv

__all__ = ['FeatureBridge', 'Mona', 'MonaConv', 'SideBlock', 'SideStage']
