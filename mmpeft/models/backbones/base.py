"""The protocol every mmpeft backbone follows: freeze in the constructor, load checked weights.

mmengine wraps the model in DDP and builds the optimizer before ``init_weights()`` runs, so a
backbone sets ``requires_grad`` from a structural rule
(:meth:`PEFTBackboneMixin.is_trainable_param`) at the end of its constructor, and re-applies it
after everything that may touch it (``init_weights``, weight loading, ``train()``).

A backbone completes a trainable-only state dict from its ``Pretrained`` base file as the state
dict is loaded into it (:meth:`PEFTBackboneMixin._load_from_state_dict`, see
:mod:`mmpeft.checkpoint.base_weights`): every API that loads such a file gets the trained model.
"""
from typing import Dict, Optional, Sequence, Set

import torch
from mmengine.logging import MMLogger

from mmpeft.checkpoint import (
    CheckpointMismatchError,
    LoadReport,
    complete_from_base,
    load_checked_state_dict,
    pretrained_path,
    read_state_dict,
    recorded_base,
    select_backbone_keys,
)
from mmpeft.checkpoint.loading import preview
from mmpeft.models.peft import PEFTModule, collect_aux_losses
from mmpeft.models.utils import count_parameters, freeze_except, match_trainable

from .peft_block import fold_method


class PEFTBackboneMixin:
    """Freeze-everything-but-the-PEFT-parameters protocol for backbones.

    Put it *before* the backbone base class (``class X(PEFTBackboneMixin, SwinTransformer)``) and
    call :meth:`freeze_backbone` at the end of ``__init__``. Subclasses implement
    :meth:`is_trainable_param` and, for ``init_cfg=dict(type='Pretrained', checkpoint=...)``,
    :meth:`load_pretrained`. Frozen modules are *not* put in eval mode (drop-path and dropout in the
    frozen network stay active in training, as in the reference implementations).
    """
    #: completes trainable-only state dicts from its base when they are loaded into it
    completes_from_base = True

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
        self._method_state = frozenset(
            f'{name}.{param}' for name, m in self.named_modules() if isinstance(m, PEFTModule)
            for param, _ in m.named_parameters()
            if not m.is_peft_param(param) and not m.holds_pretrained(param))

    def is_method_state(self, name: str) -> bool:
        """A frozen parameter of the method's own (KAdaptation's random rules): saved with the
        method, never part of a pretrained network's checkpoint."""
        return name in getattr(self, '_method_state', ())

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

    def load_method_checkpoint(self, filename: str, map_location: str = 'cpu') -> LoadReport:
        """Load the method's tensors from a file that holds only them (and a classifier head),
        given as ``init_cfg=dict(type='Pretrained', checkpoint=PRETRAINED,
        method_checkpoint=FILE)``: PETL-ViT's FacT and Convpass files. Keys are renamed by
        :meth:`method_checkpoint_state`; every parameter of the method must be in the file, the
        other keys are reported unused and never loaded."""
        state, _ = select_backbone_keys(read_state_dict(filename, map_location=map_location))
        state = self.method_checkpoint_state(state)
        names = {n for n, _ in self.named_parameters()  # type: ignore[attr-defined]
                 if self.is_method_param(n) or self.is_method_state(n)}
        if not names:
            raise CheckpointMismatchError(f'{type(self).__name__} has no method parameters to '
                                          f'load from {filename}')
        report = load_checked_state_dict(self, state, filename, required=names.__contains__,
                                         not_pretrained=lambda n: n not in names, min_ratio=1.0)
        report.unexpected = [k for k in state if k not in names]
        if report.unexpected:
            MMLogger.get_current_instance().info(
                f'{filename}: unused by the method: {preview(report.unexpected, 10)}')
        self.freeze_backbone()
        return report

    def method_checkpoint_state(self, state: dict) -> dict:
        """A method file's keys in this backbone's names (the family's reference layouts)."""
        return state

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
            method_file = self.init_cfg.get('method_checkpoint')
            if method_file:
                self.method_report = self.load_method_checkpoint(
                    method_file, map_location=self.init_cfg.get('map_location', 'cpu'))
        self.freeze_backbone()
        counts = count_parameters(self)
        MMLogger.get_current_instance().info(
            f'{self.describe()}: {counts["trainable"]:,} trainable of {counts["total"]:,} '
            f'parameters ({counts["trainable"] / counts["total"]:.2%})')

    # ------------------------------------------------------------------ export
    @classmethod
    def upstream_config(cls, cfg: dict) -> dict:
        """The config of the upstream backbone (mmdet's ``SwinTransformer``, mmpretrain's ViTs)
        that computes what the backbone built from ``cfg`` (a config dict of this class) computes
        once its method is folded (:meth:`fold_peft`), with the same parameter names.

        Raises:
            NotImplementedError: the family has no upstream equivalent.
        """
        raise NotImplementedError(f'{cls.__name__} has no upstream backbone to export to')

    def peft_blocks(self) -> Sequence:
        """The :class:`~mmpeft.models.backbones.peft_block.PEFTBlockMixin` blocks holding the
        method's modules."""
        raise NotImplementedError(f'{type(self).__name__} does not keep its method in PEFT blocks '
                                  'and cannot be folded into an upstream backbone')

    def fold_peft(self) -> int:
        """Fold the method into the frozen weights (:func:`~mmpeft.models.backbones.peft_block.
        fold_method`): afterwards the backbone computes what :meth:`upstream_config` builds.
        Returns the number of modules folded."""
        folded = fold_method(self.peft_blocks(), getattr(self, 'patch_embed', None))
        if hasattr(self, 'peft_shared'):  # folded into every block's weights
            del self.peft_shared
        if hasattr(self, 'method'):
            self.method = None
        self.index_method_params()
        self.freeze_backbone()
        return folded

    def describe(self) -> str:
        """Short name used in log messages."""
        return type(self).__name__

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args, **kwargs):
        """Complete a trainable-only state dict from the base file it records for this backbone
        (checked by sha256) before loading it, whichever API loads it."""
        recorded = recorded_base(local_metadata)
        if recorded is not None:
            complete_from_base(self, state_dict, prefix, recorded)
        super()._load_from_state_dict(  # type: ignore[misc]
            state_dict, prefix, local_metadata, *args, **kwargs)

    def train(self, mode: bool = True):
        """Set train/eval mode like ``nn.Module`` and re-assert the freezing."""
        super().train(mode)  # type: ignore[misc]
        self.freeze_backbone()
        return self
