"""The protocol every mmpeft backbone follows: freeze in the constructor, load checked weights.

mmengine wraps the model in DDP and builds the optimizer before ``init_weights()`` runs, so a
backbone sets ``requires_grad`` from a structural rule
(:meth:`PEFTBackboneMixin.is_trainable_param`) at the end of its constructor, and re-applies it
after everything that may touch it (``init_weights``, weight loading, ``train()``).
"""
from typing import Dict, Optional, Sequence, Set

import torch
from mmengine.logging import MMLogger

from mmpeft.models.peft import PEFTModule, collect_aux_losses
from mmpeft.models.utils import (
    LoadReport,
    count_parameters,
    freeze_except,
    match_trainable,
    pretrained_path,
)


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
        ``init_cfg``, checked as upstream backbones check it (an ``init_cfg`` of the wrong type is
        refused by :meth:`init_weights`, as mmengine's modules do).

        Raises:
            TypeError: ``pretrained`` is not a str or None.
            ValueError: both are given.
        """
        if pretrained is None:
            return init_cfg
        if not isinstance(pretrained, str):
            raise TypeError(f'pretrained must be a str or None, got {pretrained!r}')
        if init_cfg:
            raise ValueError('init_cfg and pretrained cannot be specified at the same time')
        return dict(type='Pretrained', checkpoint=pretrained)

    @classmethod
    def self_freezing_kwargs(cls, kwargs: dict) -> dict:
        """The upstream backbone's arguments, checked for a backbone that freezes itself.

        ``frozen_stages`` > 0 is refused (upstream backbones freeze in ``train()``, after DDP is
        built, and would freeze the PEFT parameters of the first stages too); ``pretrained=PATH``
        becomes a ``Pretrained`` ``init_cfg`` (:meth:`resolve_pretrained`).
        """
        kwargs = dict(kwargs)
        frozen_stages = kwargs.get('frozen_stages', -1)
        if frozen_stages > 0:
            raise ValueError(
                f'{cls.__name__}: frozen_stages={frozen_stages} would freeze the PEFT parameters '
                'of the first stages and put them in eval mode, after DDP was built; the '
                'backbone freezes itself in its constructor. Use frozen_stages=-1 (or 0), and '
                'trainable patterns to train only parts of the pretrained network.')
        kwargs['init_cfg'] = cls.resolve_pretrained(kwargs.pop('pretrained', None),
                                                    kwargs.get('init_cfg'))
        return kwargs

    def params_named_by(self, patterns: Optional[Sequence[str]]) -> Optional[Set[str]]:
        """The parameter names that ``patterns`` match (see
        :func:`~mmpeft.models.utils.match_trainable`, which refuses a pattern matching nothing);
        None for None."""
        if patterns is None:
            return None
        return match_trainable(self, patterns, type(self).__name__)

    def is_trainable_param(self, name: str) -> bool:
        """Whether parameter ``name`` (relative to the backbone) trains."""
        raise NotImplementedError

    def index_method_params(self) -> None:
        """Record the parameters of the inserted PEFT modules that their method trains (call it
        once the method is in place, before :meth:`freeze_backbone`)."""
        self._method_params = frozenset(
            f'{name}.{param}' for name, m in self.named_modules() if isinstance(m, PEFTModule)
            for param, _ in m.named_parameters() if m.is_peft_param(param))

    def is_method_param(self, name: str) -> bool:
        """A parameter of the method's modules that the method trains."""
        return name in self._method_params

    def aux_losses(self) -> Dict[str, torch.Tensor]:
        """The method's auxiliary losses (weighted, by name; see
        :mod:`mmpeft.models.peft.aux_loss`, which adds them to the model's loss dict)."""
        return collect_aux_losses(self)

    def orthogonal_loss(self) -> torch.Tensor:
        """The unweighted orthogonality loss of the method's modules (CoLin), summed.

        Raises:
            ValueError: the method has none.
        """
        terms = [m.orthogonal_loss() for m in self.modules()
                 if isinstance(m, PEFTModule) and hasattr(m, 'orthogonal_loss')]
        if not terms:
            raise ValueError(f'{self.describe()} has no module with an orthogonality loss')
        return torch.stack(terms).sum()

    def freeze_backbone(self):
        """(Re-)apply the freezing; idempotent. Returns ``(num_trainable, num_frozen)``."""
        return freeze_except(self, self.is_trainable_param)

    def load_pretrained(self, checkpoint: str, map_location: str = 'cpu',
                        allow_missing: bool = False) -> LoadReport:
        """Load pretrained backbone weights from ``checkpoint`` (file path)."""
        raise NotImplementedError(f'{type(self).__name__} cannot load pretrained weights')

    def pretrained_checkpoint(self) -> Optional[str]:
        """The checkpoint path of a ``Pretrained`` ``init_cfg``; None without one.

        Raises:
            TypeError: ``init_cfg`` is not a dict, a list or None.
            ValueError: ``init_cfg`` is set but is not a single ``Pretrained`` dict.
        """
        cfg = getattr(self, 'init_cfg', None)
        if cfg is None:
            return None
        if not isinstance(cfg, (dict, list)):
            raise TypeError(f'init_cfg must be a dict, a list of dicts or None, got {cfg!r}')
        if not cfg:
            return None
        path = pretrained_path(cfg) if isinstance(cfg, dict) else None
        if path is None:
            raise ValueError(f'{type(self).__name__} only supports '
                             "init_cfg=dict(type='Pretrained', checkpoint=PATH) or None, "
                             f'got {cfg}')
        return path

    def init_weights(self) -> None:
        """Load the ``Pretrained`` checkpoint (or run the base class init), then re-freeze.

        ``init_cfg=dict(type='Pretrained', checkpoint=PATH, allow_missing=True)`` accepts a file
        that lacks some of the frozen weights (they keep their random initialisation).
        """
        path = self.pretrained_checkpoint()
        if path is None:
            super().init_weights()  # type: ignore[misc]
        else:
            self.pretrained_report = self.load_pretrained(
                path, map_location=self.init_cfg.get('map_location', 'cpu'),
                allow_missing=bool(self.init_cfg.get('allow_missing', False)))
        self.freeze_backbone()
        counts = count_parameters(self)
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
