"""PEFT methods: one module class each, declaring where in a transformer block it goes."""
from .adapter import Adapter, AdaptFormer
from .base import Insertion, PEFTModule, Site, peft_module_class
from .fact import FacT, FacTShared
from .hst import FeatureBridge, SideBlock, SideStage
from .kadaptation import KAdaptation, KAdaptationRules
from .lora import LoRA, merge_lora
from .lorand import LoRand, LoRandLinear
from .mona import Mona, MonaConv
from .ssf import SSF
from .wrapping import WrappingModule

__all__ = [
    'Insertion', 'PEFTModule', 'Site', 'peft_module_class', 'Adapter', 'AdaptFormer', 'LoRA',
    'merge_lora', 'LoRand', 'LoRandLinear', 'Mona', 'MonaConv', 'FeatureBridge', 'SideBlock',
    'SideStage', 'SSF', 'FacT', 'FacTShared', 'KAdaptation', 'KAdaptationRules',
    'WrappingModule'
]
