"""Freezing helpers shared by the PEFT backbones.

A PEFT backbone freezes everything except its own new parameters *in the constructor* (mmengine
wraps the model in DDP and builds the optimizer before ``init_weights()`` runs) and re-asserts the
freezing after every operation that may touch ``requires_grad`` (``init_weights``, weight loading,
``train()``). :class:`PEFTBackboneMixin` bundles that protocol; a backbone only says which
parameters train (:meth:`PEFTBackboneMixin.is_trainable_param`) and how to load pretrained weights
(:meth:`PEFTBackboneMixin.load_pretrained`).
"""
from typing import Callable, Dict, Iterable, Optional, Tuple, Type

import torch.nn as nn
from mmengine.logging import MMLogger


def freeze_except(module: nn.Module, trainable: Callable[[str], bool]) -> Tuple[int, int]:
    """Set ``requires_grad`` of every parameter of ``module`` to ``trainable(name)``.

    Idempotent. ``name`` is the parameter name relative to ``module``.

    Returns:
        ``(num_trainable, num_frozen)`` counted in scalar elements.
    """
    n_train = n_frozen = 0
    for name, param in module.named_parameters():
        flag = bool(trainable(name))
        param.requires_grad_(flag)
        if flag:
            n_train += param.numel()
        else:
            n_frozen += param.numel()
    return n_train, n_frozen


def module_prefixes(module: nn.Module, types: Tuple[Type[nn.Module], ...]) -> Tuple[str, ...]:
    """Names (relative to ``module``) of all submodules that are instances of ``types``."""
    return tuple(name for name, m in module.named_modules() if name and isinstance(m, types))


def under_prefixes(name: str, prefixes: Iterable[str]) -> bool:
    """Whether parameter ``name`` belongs to a submodule named by one of ``prefixes``."""
    return any(name.startswith(p + '.') for p in prefixes)


def count_parameters(module: nn.Module) -> Dict[str, int]:
    """Element counts: ``{'total': ..., 'trainable': ..., 'frozen': ...}``."""
    total = trainable = 0
    for p in module.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return dict(total=total, trainable=trainable, frozen=total - trainable)


class PEFTBackboneMixin:
    """Freeze-everything-but-the-PEFT-parameters protocol for backbones.

    Put it *before* the backbone base class (``class X(PEFTBackboneMixin, SwinTransformer)``) and
    call :meth:`freeze_backbone` at the end of ``__init__``. Subclasses implement
    :meth:`is_trainable_param` and, for ``init_cfg=dict(type='Pretrained', checkpoint=...)``,
    :meth:`load_pretrained`. Frozen modules are *not* put in eval mode (drop-path and dropout in the
    frozen network stay active in training, as in the reference implementations).
    """

    @staticmethod
    def resolve_pretrained(pretrained: Optional[str], init_cfg: Optional[dict]) -> Optional[dict]:
        """``init_cfg`` with the OpenMMLab ``pretrained=PATH`` alias turned into a ``Pretrained``
        ``init_cfg``; both at once are refused."""
        if pretrained is None:
            return init_cfg
        if init_cfg:
            raise ValueError('init_cfg and pretrained cannot be specified at the same time')
        return dict(type='Pretrained', checkpoint=pretrained)

    def is_trainable_param(self, name: str) -> bool:
        """Whether parameter ``name`` (relative to the backbone) is a PEFT parameter."""
        raise NotImplementedError

    def freeze_backbone(self) -> Tuple[int, int]:
        """(Re-)apply the freezing; idempotent. Returns ``(num_trainable, num_frozen)``."""
        return freeze_except(self, self.is_trainable_param)  # type: ignore[arg-type]

    def load_pretrained(self, checkpoint: str, map_location: str = 'cpu') -> object:
        """Load pretrained backbone weights from ``checkpoint`` (file path)."""
        raise NotImplementedError(f'{type(self).__name__} cannot load pretrained weights')

    def pretrained_checkpoint(self) -> Optional[str]:
        """The checkpoint path of a ``Pretrained`` ``init_cfg``; None without one.

        Raises:
            ValueError: ``init_cfg`` is set but is not a single ``Pretrained`` dict.
        """
        cfg = getattr(self, 'init_cfg', None)
        if not cfg:
            return None
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained' and cfg.get('checkpoint'):
            return str(cfg['checkpoint'])
        raise ValueError(f'{type(self).__name__} only supports '
                         f"init_cfg=dict(type='Pretrained', checkpoint=PATH) or None, got {cfg}")

    def init_weights(self) -> None:
        """Load the ``Pretrained`` checkpoint (or run the base class init), then re-freeze."""
        path = self.pretrained_checkpoint()
        if path is None:
            super().init_weights()  # type: ignore[misc]
        else:
            self.load_pretrained(path, map_location=self.init_cfg.get('map_location', 'cpu'))
        self.freeze_backbone()
        counts = count_parameters(self)  # type: ignore[arg-type]
        MMLogger.get_current_instance().info(
            f'{self.describe()}: {counts["trainable"]:,} trainable of {counts["total"]:,} '
            f'parameters ({counts["trainable"] / counts["total"]:.2%})')

    def describe(self) -> str:
        """Short name used in log messages."""
        return type(self).__name__

    def train(self, mode: bool = True):
        """Set train/eval mode like ``nn.Module`` and re-assert the freezing."""
        super().train(mode)  # type: ignore[misc]
        self.freeze_backbone()
        return self
