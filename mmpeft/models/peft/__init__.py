"""PEFT methods: one module class each, declaring where in a transformer block it goes."""
from .base import Insertion, PEFTModule, Site, peft_module_class
from .hst import FeatureBridge, SideBlock, SideStage
from .mona import Mona, MonaConv

__all__ = [
    'Insertion', 'PEFTModule', 'Site', 'peft_module_class', 'Mona', 'MonaConv', 'FeatureBridge',
    'SideBlock', 'SideStage'
]
