"""Conv-Adapter: parameter-efficient transfer learning for ConvNets (Chen et al., 2022; official
code Hhhhhhao/Conv-Adapter, its "design 2 v4" ``ConvAdapter``).

``a(h) = se * conv1x1(ReLU(gconv3x3(h)))`` beside each ResNet Bottleneck's
``conv2 -> norm2 -> ReLU``, fed their input (after ``conv1``'s ReLU) and added after ``conv2``'s
ReLU (:attr:`~mmpeft.models.peft.ConvSite.CONV2_PARALLEL`). ``gconv``: ``w -> w / 8`` channels in
``w / 8`` groups (8 input channels per group), with ``conv2``'s stride; ``conv1x1``:
``w / 8 -> w``; ``se``: a per-channel scale, 1 at the start. Names are the official ones
(``layerX.Y.tuning_module.conv1.weight`` ...).
"""
from typing import Optional

import torch
import torch.nn as nn

from mmpeft.models.utils.validate import check_int
from mmpeft.registry import register_peft_module

from .base import ConvSite, PEFTModule


@register_peft_module
class ConvAdapter(PEFTModule):
    """Conv-Adapter of one Bottleneck (see the module docstring).

    Parameters: ``w^2 / 8 + 11 w + w / 8`` per block of width ``w`` with ``adapt_size=8``
    (ResNet-50 199,192).

    Args:
        in_channels, out_channels: ``conv2``'s channels ``w``.
        adapt_size: input channels per group of the 3x3 convolution (8); ``w / adapt_size``
            groups and hidden channels.
        kernel_size: the grouped convolution's kernel (3).
        stride: ``conv2``'s stride.

    The convolutions start kaiming-normal (fan-out, ReLU) with zero biases, as the official
    ResNet initialises every convolution: the adapter is active from the first step.
    """
    insertions = (('tuning_module', ConvSite.CONV2_PARALLEL), )

    @classmethod
    def build_at(cls, site: str, target, cfg: dict) -> 'ConvAdapter':
        if site != ConvSite.CONV2_PARALLEL:
            raise NotImplementedError(f'ConvAdapter has no module for site {site!r}')
        return cls(target.in_channels, target.out_channels, stride=target.stride, **cfg)

    def __init__(self, in_channels: int, out_channels: int, adapt_size: int = 8,
                 kernel_size: int = 3, stride=1, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        in_channels = check_int('ConvAdapter', 'in_channels', in_channels, 1)
        out_channels = check_int('ConvAdapter', 'out_channels', out_channels, 1)
        adapt_size = check_int('ConvAdapter', 'adapt_size', adapt_size, 1)
        if in_channels % adapt_size:
            raise ValueError(f'ConvAdapter: in_channels {in_channels} is not a multiple of '
                             f'adapt_size {adapt_size}')
        width = in_channels // adapt_size
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size, stride=stride,
                               padding=kernel_size // 2, groups=width)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(width, out_channels, 1)
        self.se = nn.Parameter(torch.ones(1, out_channels, 1, 1))
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, mode='fan_out', nonlinearity='relu')
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x))) * self.se
