"""PEFT methods in mmdet's ResNet: a method's modules at the CNN sites of every Bottleneck.

The CNN counterpart of :mod:`.peft_swin`: the Bottlenecks built by mmdet are converted in place
into :class:`PEFTBottleneck` (every parameter keeps its name, so torchvision, mmdet and
Conv-Adapter files load unchanged), whose forward runs the modules a method put at the
:class:`~mmpeft.models.peft.ConvSite` s, and :func:`~.peft_block.insert_method` places them as in
the transformer families. A later CNN method is one more :class:`~mmpeft.models.peft.PEFTModule`
(and, where it needs one, one more site here).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmdet.models.backbones.resnet import Bottleneck, ResNet

from mmpeft.checkpoint import LoadReport, load_resnet_checkpoint, pretrained_path
from mmpeft.models.peft import ConvSite
from mmpeft.models.utils import convert_module
from mmpeft.registry import register_model

from .base import PEFTBackboneMixin
from .peft_block import SiteSlots, insert_method


class PEFTBottleneck(SiteSlots, Bottleneck):
    """mmdet ``Bottleneck`` whose forward runs the PEFT modules at their
    :class:`~mmpeft.models.peft.ConvSite` s; without modules it computes exactly mmdet's."""

    @classmethod
    def convert(cls, block: Bottleneck) -> 'PEFTBottleneck':
        """Turn a built mmdet ``Bottleneck`` into a ``PEFTBottleneck`` without modules."""
        return convert_module(block, Bottleneck, cls, peft_sites={})

    def site_target(self, site: str) -> nn.Module:
        """What a module at ``site`` is built from: ``conv2`` for ``CONV2_PARALLEL``."""
        if site != ConvSite.CONV2_PARALLEL:
            raise ValueError(f'a Bottleneck has no site {site!r}; one of {ConvSite.ALL}')
        return self.conv2

    def add_module_at(self, site: str, name: str, module: nn.Module) -> None:
        """Attach ``module`` as ``self.<name>`` at ``site``."""
        self.site_target(site)
        self.attach_at(site, name, module)

    def _plugins(self, x: torch.Tensor, names: str) -> torch.Tensor:
        return self.forward_plugin(x, getattr(self, names)) if self.with_plugins else x

    def peft_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block before its final ReLU (mmdet's ``_inner_forward``) with its modules."""
        h = self.relu(self.norm1(self.conv1(x)))
        h = self._plugins(h, 'after_conv1_plugin_names')
        out = self.relu(self.norm2(self.conv2(h)))
        parallel = self.at(ConvSite.CONV2_PARALLEL)
        if parallel is not None:
            out = out + parallel(h)
        out = self._plugins(out, 'after_conv2_plugin_names')
        out = self._plugins(self.norm3(self.conv3(out)), 'after_conv3_plugin_names')
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`peft_forward` and the ReLU, recomputed in backward with ``with_cp``
        (non-reentrant, so the PEFT parameters get gradients even if ``x`` does not require
        them)."""
        if self.with_cp and torch.is_grad_enabled():
            out = cp.checkpoint(self.peft_forward, x, use_reentrant=False)
        else:
            out = self.peft_forward(x)
        return self.relu(out)


@register_model
class PEFTResNet(PEFTBackboneMixin, ResNet):
    """mmdet ``ResNet`` with a PEFT method in every Bottleneck; only the method trains.

    ``method=dict(type='ConvAdapter')`` names a registered
    :class:`~mmpeft.models.peft.PEFTModule` with CNN sites and its settings. Everything else is
    frozen in the constructor, and the BatchNorm layers run in eval mode during training
    (``norm_eval=True``, mmdet's detection setting; the official Conv-Adapter classification code
    keeps batch statistics).

    Args:
        method: the PEFT method and its settings; None inserts nothing (a frozen ResNet).
        norm_eval: BatchNorm in eval mode during training (default True).
        **kwargs: mmdet ``ResNet`` arguments (Bottleneck depths 50/101/152).
            ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` (or ``pretrained=PATH``) loads
            torchvision, mmdet or Conv-Adapter files, auto-detected. ``frozen_stages`` > 0 is
            refused (the whole network is frozen anyway).
    """

    def __init__(self, *, method: Optional[dict] = None, norm_eval: bool = True,
                 **kwargs) -> None:
        super().__init__(norm_eval=norm_eval, **self.self_freezing_kwargs(kwargs))
        blocks = [block for name in self.res_layers for block in getattr(self, name)]
        if method is not None and not all(type(b) is Bottleneck for b in blocks):
            raise ValueError(f'PEFTResNet puts methods into Bottlenecks (depth 50/101/152), '
                             f'got depth {self.depth}')
        for block in blocks:
            if type(block) is Bottleneck:
                PEFTBottleneck.convert(block)
        self.method = None if method is None else dict(method)
        if method is not None:
            insert_method(blocks, method)
        self.index_method_params()
        self.freeze_backbone()

    def is_trainable_param(self, name: str) -> bool:
        """Only the parameters of the method's modules train."""
        return self.is_method_param(name)

    def pretrained_checkpoint(self) -> Optional[str]:
        """As the mixin's, but mmdet's default init (a list of Kaiming / Constant inits, no
        ``Pretrained``) means random initialisation."""
        if isinstance(self.init_cfg, list) and pretrained_path(self.init_cfg) is None:
            return None
        return super().pretrained_checkpoint()

    def load_pretrained(self, checkpoint: str, map_location: str = 'cpu',
                        allow_missing: bool = False) -> LoadReport:
        """Load a torchvision, mmdet or Conv-Adapter ResNet file (see
        :mod:`mmpeft.checkpoint.layouts.resnet`)."""
        report = load_resnet_checkpoint(self, checkpoint, map_location=map_location,
                                        pretrained=lambda n: not self.is_method_param(n),
                                        allow_missing=allow_missing)
        self.freeze_backbone()
        return report

    def describe(self) -> str:
        method = 'no method' if self.method is None else self.method['type']
        return f'ResNet-{self.depth}({method})'
