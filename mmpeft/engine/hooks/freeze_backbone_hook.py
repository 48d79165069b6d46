"""Freeze a sub-module of the model by parameter-name patterns, safely under DDP; verify and log
the freezing of any model."""
import copy
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from torch.nn.parallel import DistributedDataParallel

from mmpeft.engine.checkpoint import unwrap_model
from mmpeft.models.utils import (
    FreezeReport,
    apply_freeze,
    check_trainable_ratio,
    resolve_module,
    trainable_table,
)
from mmpeft.models.utils.freeze import frozen_submodules
from mmpeft.registry import register_hook


def optimizers_of(optim_wrapper: object) -> List[torch.optim.Optimizer]:
    """The torch optimizers inside an ``OptimWrapper`` or ``OptimWrapperDict``."""
    if hasattr(optim_wrapper, 'optim_wrappers'):  # OptimWrapperDict
        return [ow.optimizer for ow in optim_wrapper.optim_wrappers.values()]
    return [optim_wrapper.optimizer]  # type: ignore[attr-defined]


def remove_frozen_from_optimizer(optim_wrapper: object) -> int:
    """Drop parameters with ``requires_grad=False`` from every param group (and their state).

    Groups are kept even if they become empty, so parameter schedulers that were built per group
    stay aligned. Returns the number of parameter tensors removed.
    """
    removed = 0
    for opt in optimizers_of(optim_wrapper):
        for group in opt.param_groups:
            kept = [p for p in group['params'] if p.requires_grad]
            for p in group['params']:
                if not p.requires_grad:
                    opt.state.pop(p, None)
            removed += len(group['params']) - len(kept)
            group['params'] = kept
    return removed


def frozen_in_optimizer(optim_wrapper: object,
                        model: Optional[nn.Module] = None) -> List[str]:
    """Parameters with ``requires_grad=False`` still in an optimizer (names if ``model`` given)."""
    names: Dict[int, str] = {id(p): n for n, p in model.named_parameters()} if model else {}
    found = []
    for opt in optimizers_of(optim_wrapper):
        for group in opt.param_groups:
            for p in group['params']:
                if not p.requires_grad:
                    found.append(names.get(id(p), f'<tensor {tuple(p.shape)}>'))
    return found


@register_hook
class FreezeBackboneHook(Hook):
    """Train only the parameters of ``module`` whose names match ``trainable``, or verify and log
    a model that froze itself.

    mmpeft's backbones freeze themselves in their constructors (the paper's fixed / BitFit /
    norm-tuning / partial-1 baselines are ``PlainSwinTransformer(trainable=[...])``); mmpeft's
    configs use this hook with ``trainable=None`` to log the trainable-parameter table and check
    that nothing changes the freezing during training. With patterns it freezes the module of a
    model that does not freeze itself (your own model): a parameter of ``module`` trains iff one
    pattern is a substring of its name relative to ``module`` (see
    :mod:`mmpeft.models.utils.freeze`); parameters outside ``module`` (neck, heads) are left as
    they are.

    mmengine wraps the model in DDP and builds the optimizer before any hook runs, so when the
    hook has to freeze, in ``before_run`` it freezes, re-wraps a DDP model (no
    ``find_unused_parameters`` needed) and removes every frozen parameter from the optimizer's
    param groups. If ``module`` already froze itself exactly as the patterns say (e.g.
    ``MonaSwinTransformer`` with ``['mona']``), nothing is changed and nothing is re-wrapped; a
    disagreeing self-frozen module is an error. ``before_train`` (after ``init_weights`` and
    checkpoint loading) re-asserts the flags and checks the optimizer; every ``before_train_iter``
    checks the flags again (a ``train()`` that freezes, like mmdet Swin's ``frozen_stages``,
    would otherwise break DDP).

    Args:
        module: dotted path of the sub-module to freeze, e.g. ``'backbone'``.
        trainable: name substrings of the parameters that stay trainable; ``[]`` freezes all;
            None keeps the module's own freezing (verify and log only). A pattern that matches
            nothing is an error.
        max_trainable_ratio: fail if more than this fraction of ``module``'s parameter elements
            is trainable (e.g. ``0.05``); None disables the check.
        frozen_eval: keep fully frozen sub-modules in eval mode during training (BN statistics,
            dropout and drop-path off). Default False, as in the original Mona code.
        log_table: log the trainable/total parameter table in ``before_run``.
    """
    priority = 'VERY_HIGH'

    def __init__(self,
                 module: str = 'backbone',
                 trainable: Optional[Sequence[str]] = ('mona', ),
                 max_trainable_ratio: Optional[float] = None,
                 frozen_eval: bool = False,
                 log_table: bool = True,
                 **kwargs) -> None:
        moved = {'save_trainable_only', 'allow_base_mismatch'} & set(kwargs)
        if moved:
            raise TypeError(
                f'FreezeBackboneHook no longer takes {sorted(moved)}: trainable-only checkpoints '
                "are written by custom_hooks=[..., dict(type='TrainableCheckpointHook')], and "
                'a different base is allowed with MMPEFT_ALLOW_BASE_MISMATCH=1 or '
                "default_hooks=dict(checkpoint_load=dict(type='CheckpointLoadHook', "
                'allow_base_mismatch=True))')
        if kwargs:
            raise TypeError(f'FreezeBackboneHook got unexpected arguments {sorted(kwargs)}')
        if isinstance(trainable, str):
            raise TypeError(f'trainable must be a list of patterns, got the string {trainable!r}')
        if max_trainable_ratio is not None and not 0 <= max_trainable_ratio <= 1:
            raise ValueError(f'max_trainable_ratio must be in [0, 1], got {max_trainable_ratio}')
        self.module = module
        self.trainable = None if trainable is None else list(trainable)
        self.max_trainable_ratio = max_trainable_ratio
        self.frozen_eval = frozen_eval
        self.log_table = log_table
        self.report: Optional[FreezeReport] = None
        self.rewrapped = False
        self.removed_from_optimizer = 0
        self._flags: List[Tuple[str, nn.Parameter, bool]] = []
        self._eval_modules: List[nn.Module] = []

    @staticmethod
    def _unwrap(runner) -> nn.Module:
        return unwrap_model(runner.model)

    def _target(self, runner) -> nn.Module:
        return resolve_module(self._unwrap(runner), self.module)

    def _log(self, msg: str, level: int = logging.INFO) -> None:
        print_log(f'[FreezeBackboneHook] {msg}', logger='current', level=level)

    def before_run(self, runner) -> None:
        """Freeze (or verify), re-wrap DDP if needed, clean the optimizer, log the table."""
        model = self._unwrap(runner)
        target = resolve_module(model, self.module)
        report = apply_freeze(target, self.trainable, self.module)
        check_trainable_ratio(report, self.max_trainable_ratio)
        self.report = report
        self._flags = [(n, p, p.requires_grad) for n, p in target.named_parameters()]

        training = isinstance(runner.optim_wrapper, OptimWrapper)
        if training and report.changed and is_model_wrapper(runner.model):
            self._rewrap(runner)
        if training:
            self.removed_from_optimizer = remove_frozen_from_optimizer(runner.optim_wrapper)

        if self.trainable is None:
            what = f"'{self.module}' keeps its own freezing"
        elif report.mode == 'verified':
            what = (f"'{self.module}' already trains exactly the parameters matched by "
                    f'{self.trainable}; nothing changed')
        else:
            what = (f"froze '{self.module}' except {self.trainable} "
                    f'({len(report.changed)} parameter tensors frozen)')
        extra = []
        if self.rewrapped:
            extra.append(f're-wrapped {type(runner.model).__name__} around the frozen model')
        if self.removed_from_optimizer:
            extra.append(f'removed {self.removed_from_optimizer} frozen parameter tensors '
                         'from the optimizer')
        self._log('; '.join([what] + extra))
        if self.log_table:
            self._log('trainable parameters:\n' + trainable_table(model, focus=self.module))

    def _rewrap(self, runner) -> None:
        """Build a fresh DDP around the frozen model (DDP fixes its parameter set when built)."""
        old = runner.model
        if not isinstance(old, DistributedDataParallel) or getattr(old, 'mixed_precision',
                                                                    None) is not None:
            raise RuntimeError(
                f'FreezeBackboneHook changed requires_grad after the model was wrapped in '
                f'{type(old).__name__}, which it cannot re-wrap. Freeze in the backbone '
                f'constructor instead, or use a (MM)DistributedDataParallel wrapper.')
        # The old reducer hooks AccumulateGrad of every parameter it tracked; remove them so the
        # discarded wrapper can never take part in a backward pass.
        remove_hooks = getattr(old, '_remove_autograd_hooks', None)  # torch >= 2.0
        if remove_hooks is not None:
            remove_hooks()
        for handle in getattr(old, '_accum_grad_hooks', []):
            handle.remove()
        runner.model = runner.wrap_model(
            copy.deepcopy(runner.cfg.get('model_wrapper_cfg')), old.module)
        # Nothing else references the old wrapper: it and its reducer are freed on return, with no
        # collective pending, so they do not keep the process group alive (the distributed test
        # checks it). The rank abort once seen at the end of a re-wrapping run came from gloo's
        # threads outliving any distributed run; finish_distributed (tools/runner_utils.py) joins
        # them before Python shuts down.
        self.rewrapped = True

    def before_train(self, runner) -> None:
        """Re-assert the freeze after ``init_weights``/loading; check the optimizer."""
        target = self._target(runner)
        expected = {n: flag for n, _, flag in self._flags}
        reset = []
        for name, param in target.named_parameters():
            flag = expected.get(name)
            if flag is None:
                raise RuntimeError(
                    f"parameter '{self.module}.{name}' appeared after before_run (added by "
                    'init_weights or weight loading?); it is in neither the optimizer nor DDP')
            if param.requires_grad != flag:
                param.requires_grad_(flag)
                reset.append(name)
        if reset:
            self._log(f're-froze {len(reset)} parameters whose requires_grad was changed after '
                      f'before_run (init_weights / weight loading?): {reset[:8]}',
                      logging.WARNING)
        self._flags = [(n, p, p.requires_grad) for n, p in target.named_parameters()]
        leftovers = frozen_in_optimizer(runner.optim_wrapper, self._unwrap(runner))
        if leftovers:
            raise RuntimeError(f'{len(leftovers)} frozen parameters are still in the optimizer '
                               f'at before_train: {leftovers[:8]}')
        if self.frozen_eval:
            self._eval_modules = frozen_submodules(target)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """Check the flags did not change (e.g. in ``train()``); apply ``frozen_eval``."""
        changed = [n for n, p, flag in self._flags if p.requires_grad != flag]
        if changed:
            raise RuntimeError(
                f"requires_grad of {len(changed)} parameters of '{self.module}' changed during "
                f'training (after model.train()?): {changed[:8]}. The DDP wrapper and the '
                'optimizer were built for the frozen layout set in before_run. With mmdet/mmseg '
                'Swin use frozen_stages=-1 together with this hook.')
        for m in self._eval_modules:
            m.eval()
