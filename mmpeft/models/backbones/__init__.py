"""PEFT backbones: a base backbone plus a method."""
from .adapter_swin import AdapterSwinTransformer, AdaptFormerSwinTransformer
from .base import PEFTBackboneMixin
from .hst_vit import HSTViT
from .lora_swin import LoRandSwinTransformer, LoRASwinTransformer
from .mona_swin import MonaSwinTransformer
from .peft_dinov3 import PEFTDINOv3
from .peft_eva02 import PEFTEVA02
from .peft_resnet import PEFTBottleneck, PEFTResNet
from .peft_swin import PEFTSwinBlock, PEFTSwinBlockSequence, PEFTSwinTransformer, SwinBackboneMixin
from .peft_vit import PEFTSAMViT, PEFTViT, PEFTViTLayer
from .plain_swin import PlainSwinTransformer
from .vpt_swin import VPTSwin

__all__ = [
    'AdapterSwinTransformer', 'AdaptFormerSwinTransformer', 'PEFTBackboneMixin', 'HSTViT',
    'LoRASwinTransformer', 'LoRandSwinTransformer', 'MonaSwinTransformer', 'PEFTSwinBlock',
    'PEFTSwinBlockSequence', 'PEFTSwinTransformer', 'SwinBackboneMixin', 'PlainSwinTransformer',
    'VPTSwin', 'PEFTSAMViT', 'PEFTViT', 'PEFTViTLayer', 'PEFTEVA02', 'PEFTBottleneck', 'PEFTResNet',
    'PEFTDINOv3'
]
