"""PEFT methods: one module class each, declaring where in a transformer block it goes."""
from .adapter import Adapter, AdaptFormer
from .aux_loss import attach_aux_losses, collect_aux_losses
from .base import ConvSite, Insertion, PEFTModule, Site, peft_module_class
from .colin import CLP, CoLin
from .conv_adapter import ConvAdapter
from .convpass import Convpass
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
    'WrappingModule', 'ConvSite', 'attach_aux_losses', 'collect_aux_losses', 'CLP', 'CoLin',
    'ConvAdapter', 'Convpass'
]
