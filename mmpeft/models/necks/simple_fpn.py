"""ViTDet's simple feature pyramid (Li et al., ECCV 2022) for mmdet and mmseg.

A plain ViT has one map at its patch stride. :class:`SimpleFPN` builds the strides 4, 8, 16 and
32 from it (two and one stride-2 transposed convolutions, the map itself, a 2x2 max-pool), each
followed by a 1x1 and a 3x3 convolution with a channel LayerNorm, and for detection a stride-64
level by subsampling the last: the inputs of mmdet's RPN / RoI heads and of mmseg's UPerHead in
place of an FPN. A patch-14 map (DINOv2) is first resampled bilinearly to the stride-16 grid of the
same image (``in_stride=14``), so that the heads keep their strides.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmpeft.registry import register_model

#: the output strides built from the stride-16 map, and the scale of each relative to it
STRIDES = (4, 8, 16, 32)


@register_model
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map (detectron2's ``LayerNorm``, eps 1e-6); also
    ``norm_cfg=dict(type='LayerNorm2d')`` for mmdet/mmseg heads (ViTDet's ``LN2d``)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _conv_norm(in_ch: int, out_ch: int, kernel: int, norm: bool) -> nn.Sequential:
    conv = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=not norm)
    return nn.Sequential(conv, LayerNorm2d(out_ch)) if norm else nn.Sequential(conv)


@register_model
class SimpleFPN(BaseModule):
    """Feature pyramid at strides 4, 8, 16, 32 (and 64) from one plain-ViT map.

    Args:
        in_channels: channels of the backbone's map (an int, or a one-element list as mmdet and
            mmseg necks take them; the backbone returns a tuple of one map).
        out_channels: channels of every level (256 in ViTDet).
        num_outs: 5 for detection (levels 4..32 and a stride-64 one, max-pool k1 s2 of the
            last), 4 for segmentation (UPerHead).
        in_stride: the backbone's patch size; a map of another stride than 16 is resampled to
            the stride-16 grid first (bilinear, scale ``in_stride / 16``: pixel centres stay
            aligned, and an image whose sides are multiples of 16 gets exactly ``side / 16``).
        norm: LayerNorm after the first transposed convolution and after each level's two
            convolutions (ViTDet's ``norm='LN'``); False: biases instead.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 out_channels: int = 256,
                 num_outs: int = 5,
                 in_stride: int = 16,
                 norm: bool = True,
                 init_cfg: Optional[dict] = dict(
                     type='Xavier', layer=['Conv2d', 'ConvTranspose2d'], distribution='uniform')
                 ) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(in_channels, int):
            if len(in_channels) != 1:
                raise ValueError(f'SimpleFPN builds the pyramid from one map: in_channels must '
                                 f'be an int or a list of one, got {in_channels}')
            in_channels = in_channels[0]
        if num_outs not in (4, 5):
            raise ValueError(f'SimpleFPN: num_outs must be 4 or 5, got {num_outs}')
        if in_channels % 4:
            raise ValueError(f'SimpleFPN: in_channels must be divisible by 4, got {in_channels}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_outs, self.in_stride = num_outs, in_stride
        c = in_channels
        up4: List[nn.Module] = [nn.ConvTranspose2d(c, c // 2, 2, stride=2)]
        if norm:
            up4.append(LayerNorm2d(c // 2))
        up4 += [nn.GELU(), nn.ConvTranspose2d(c // 2, c // 4, 2, stride=2)]
        self.scales = nn.ModuleList([
            nn.Sequential(*up4),
            nn.ConvTranspose2d(c, c // 2, 2, stride=2),
            nn.Identity(),
            nn.MaxPool2d(2, stride=2),
        ])
        widths = (c // 4, c // 2, c, c)
        self.lateral_convs = nn.ModuleList(_conv_norm(w, out_channels, 1, norm) for w in widths)
        self.output_convs = nn.ModuleList(
            _conv_norm(out_channels, out_channels, 3, norm) for _ in widths)

    def forward(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
                ) -> Tuple[torch.Tensor, ...]:
        """``inputs``: the backbone's map (B, C, H, W) or a tuple of one; returns ``num_outs``
        maps of ``out_channels``, finest first."""
        if not isinstance(inputs, torch.Tensor):
            if len(inputs) != 1:
                raise ValueError(f'SimpleFPN takes one map, got {len(inputs)}: set the '
                                 'backbone to one out_indices entry')
            inputs = inputs[0]
        x = inputs
        if self.in_stride != 16:
            x = F.interpolate(x, scale_factor=self.in_stride / 16, mode='bilinear',
                              align_corners=False, recompute_scale_factor=False)
        outs = [out(lat(scale(x))) for scale, lat, out in
                zip(self.scales, self.lateral_convs, self.output_convs)]
        if self.num_outs == 5:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
