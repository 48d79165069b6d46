"""Pretrained-weight loading for mmdet-style ResNet backbones (:class:`PEFTResNet`).

torchvision and mmdet name a ResNet's tensors alike (``conv1``, ``bn1``, ``layerX.Y.conv2``,
``downsample.0/1``), so every such file loads key for key (auto-detected, any of the wrappers
``state_dict`` / ``model`` / ``module`` and an optional ``backbone.`` prefix):

* ``torchvision``: ImageNet classification ResNets (and mmdet/mmseg detector files, prefixed);
* ``conv-adapter``: the same plus the Conv-Adapter modules
  (``layerX.Y.tuning_module.conv{1,2}``, ``.se``), as the official Conv-Adapter code saves them in
  ``{'model', 'optimizer', 'epoch', 'scaler', 'args'}``.

The classification parts (``fc.*``, ``head.*`` and Conv-Adapter's extra ``norm.*`` before the
pooling) are unused: dropped and logged.
"""
from typing import Tuple

import torch.nn as nn

from ..loading import CheckpointFormat, LoadReport, StateDict, load_backbone_checkpoint

_UNUSED = ('fc.', 'head.', 'norm.')


def resnet_layout(state: StateDict) -> Tuple[StateDict, str]:
    """``(state, layout)``: ``'conv-adapter'``, ``'torchvision'`` or ``'unknown'``."""
    if not any(k.startswith('layer1.') for k in state):
        return state, 'unknown'
    return state, ('conv-adapter' if any('.tuning_module.' in k for k in state)
                   else 'torchvision')


def is_unused_resnet_key(key: str) -> bool:
    """Classification parts of a ResNet file."""
    return key.startswith(_UNUSED)


RESNET_FORMAT = CheckpointFormat(family='ResNet', convert=resnet_layout,
                                 unused=is_unused_resnet_key)


def load_resnet_checkpoint(model: nn.Module, filename: str, **kwargs) -> LoadReport:
    """Load a ResNet file into an mmdet-style ResNet backbone, with checks (keyword arguments as
    :func:`~mmpeft.checkpoint.loading.load_backbone_checkpoint`)."""
    return load_backbone_checkpoint(model, filename, RESNET_FORMAT, **kwargs)
