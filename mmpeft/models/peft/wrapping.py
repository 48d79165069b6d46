"""Modules at the wrapping sites: a method module that replaces a frozen layer and keeps it.

At a wrapping site (``Site.WRAPPING``: ``QKV``, ``PROJ``, ``FC1``, ``FC2``, ``NORM1``, ``NORM2``,
``PATCH_PROJ``, ``PATCH_NORM``) the method's module takes the place of a frozen ``nn.Linear``,
``nn.LayerNorm`` or ``nn.Conv2d`` (or a subclass with the same function, such as mmcv's ``Linear``)
and holds that layer's ``weight`` and ``bias`` (the same
parameters, under the pretrained names: ``attn.w_msa.qkv.weight``), so checkpoints load
unchanged. A subclass says what it computes (:meth:`WrappingModule.adapted`) and, for a
re-parameterisable method, the one layer that computes the same (:meth:`merged_params`).

Merging (:meth:`~WrappingModule.merge`) writes that layer's weights into ``weight``/``bias`` for
inference and :meth:`~WrappingModule.unmerge` restores them; the state dict is the same either way
(the unmerged weights), and a merged module refuses to train. For export,
:meth:`~WrappingModule.fold_into` merges and :meth:`~WrappingModule.unwrap` gives the plain layer
that replaces the module.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import PEFTModule, Site

_KINDS = (nn.Linear, nn.LayerNorm, nn.Conv2d)


class WrappingModule(PEFTModule):
    """Base of the modules that replace a frozen Linear, LayerNorm or Conv2d (see the module
    docstring). ``self.layer(x)`` is the frozen layer's function."""
    mergeable = True

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        kind = next((k for k in _KINDS if isinstance(layer, k)), None)
        if kind is None:
            raise TypeError(f'{type(self).__name__} wraps an nn.Linear, nn.LayerNorm or '
                            f'nn.Conv2d, got {type(layer).__name__}')
        if kind is nn.Conv2d and layer.padding_mode != 'zeros':
            raise ValueError(f'{type(self).__name__}: cannot wrap a Conv2d with padding_mode='
                             f'{layer.padding_mode!r}')
        if getattr(layer, 'weight', None) is None:
            raise ValueError(f'{type(self).__name__}: the wrapped {kind.__name__} has no weight '
                             '(elementwise_affine=False)')
        self.kind = kind.__name__
        self.layer_cls = type(layer)  # mmcv's Linear (an nn.Linear) comes back as itself
        self.layer_args: Dict[str, object] = self._layer_args(layer)
        self.weight = layer.weight
        self.bias = layer.bias
        self.merged = False
        self._unmerged: Optional[Tuple[torch.Tensor, Optional[torch.Tensor]]] = None

    @staticmethod
    def _layer_args(layer: nn.Module) -> Dict[str, object]:
        if isinstance(layer, nn.Linear):
            return dict(in_features=layer.in_features, out_features=layer.out_features)
        if isinstance(layer, nn.LayerNorm):
            return dict(normalized_shape=tuple(layer.normalized_shape), eps=layer.eps)
        return dict(in_channels=layer.in_channels, out_channels=layer.out_channels,
                    kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding,
                    dilation=layer.dilation, groups=layer.groups)

    @classmethod
    def build_at(cls, site: str, target: nn.Module, cfg: dict) -> 'WrappingModule':
        """A module in place of the frozen layer ``target`` at the wrapping site ``site``."""
        if site not in Site.WRAPPING:
            raise TypeError(f'{cls.__name__} replaces a layer at a wrapping site '
                            f'({Site.WRAPPING}), got {site!r}')
        return cls(target, **cfg)

    def __getattr__(self, name: str):
        args = self.__dict__.get('layer_args')
        if args is not None and name in args:  # in_features, normalized_shape, ...
            return args[name]
        return super().__getattr__(name)

    @property
    def channels(self) -> int:
        """The channels of the layer's output (the last dim; dim 1 of a conv's map)."""
        a = self.layer_args
        if self.kind == 'Linear':
            return a['out_features']
        if self.kind == 'LayerNorm':
            return a['normalized_shape'][-1]
        return a['out_channels']

    def is_peft_param(self, name: str) -> bool:
        """The wrapped layer's ``weight`` and ``bias`` stay frozen (pretrained)."""
        return name not in ('weight', 'bias')

    def holds_pretrained(self, name: str) -> bool:
        return name in ('weight', 'bias')

    # ------------------------------------------------------------------ the function
    def layer(self, x: torch.Tensor, weight: Optional[torch.Tensor] = None,
              bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The wrapped layer on ``x`` (with ``weight``/``bias`` instead of its own if given)."""
        w = self.weight if weight is None else weight
        b = self.bias if weight is None else bias
        a = self.layer_args
        if self.kind == 'Linear':
            return F.linear(x, w, b)
        if self.kind == 'LayerNorm':
            return F.layer_norm(x, a['normalized_shape'], w, b, a['eps'])
        return F.conv2d(x, w, b, a['stride'], a['padding'], a['dilation'], a['groups'])

    def adapted(self, x: torch.Tensor) -> torch.Tensor:
        """The method's function of the layer's input (unmerged)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            if self.training and torch.is_grad_enabled():
                raise RuntimeError(f'this {type(self).__name__} module is merged (inference '
                                   'only): call unmerge() before training it')
            return self.layer(x)
        return self.adapted(x)

    # ------------------------------------------------------------------ merging
    def merged_params(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(weight, bias)`` of the one layer of the wrapped kind that computes
        :meth:`adapted` in eval mode."""
        raise NotImplementedError(f'{type(self).__name__} cannot be merged')

    @torch.no_grad()
    def merge(self) -> None:
        """Write :meth:`merged_params` into ``weight``/``bias`` (inference)."""
        if self.merged:
            return
        weight, bias = self.merged_params()
        if bias is not None and self.bias is None:
            raise ValueError(f'{type(self).__name__}: the wrapped {self.kind} has no bias to '
                             'fold the shift into')
        self._unmerged = (self.weight.detach().clone(),
                          None if self.bias is None else self.bias.detach().clone())
        self.weight.copy_(weight)
        if bias is not None:
            self.bias.copy_(bias)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore the unmerged ``weight``/``bias``."""
        if not self.merged:
            return
        weight, bias = self._unmerged
        self.weight.copy_(weight)
        if bias is not None:
            self.bias.copy_(bias)
        self._unmerged, self.merged = None, False

    def fold_into(self, block: nn.Module, site: str) -> None:
        """Merge for good: the wrapped layer's ``weight``/``bias`` (the frozen weights of
        ``block`` at ``site``) become the merged ones; the caller then puts :meth:`unwrap` in the
        module's place."""
        if site not in Site.WRAPPING:
            raise ValueError(f'{type(self).__name__} folds at a wrapping site, got {site!r}')
        self.merge()
        self._unmerged = None

    def unwrap(self) -> nn.Module:
        """The plain frozen layer holding this module's ``weight`` and ``bias`` parameters."""
        a = dict(self.layer_args)
        if self.kind == 'LayerNorm':
            layer = self.layer_cls(a['normalized_shape'], eps=a['eps'], device='meta')
        else:
            layer = self.layer_cls(bias=self.bias is not None, device='meta', **a)
        layer.weight, layer.bias = self.weight, self.bias
        return layer

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.merged and self._unmerged is not None:  # always the unmerged weights
            weight, bias = self._unmerged
            destination[prefix + 'weight'] = weight.clone()
            if bias is not None:
                destination[prefix + 'bias'] = bias.clone()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self.unmerge()  # the loaded weights are unmerged ones
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        args = ', '.join(f'{k}={v}' for k, v in self.layer_args.items())
        return f'{self.kind}({args}), merged={self.merged}'


def channel_view(t: torch.Tensor, kind: str) -> torch.Tensor:
    """A per-channel vector shaped to broadcast over a layer's output (``(C, 1, 1)`` for a
    conv's NCHW map, ``(C,)`` otherwise)."""
    return t.view(-1, 1, 1) if kind == 'Conv2d' else t
