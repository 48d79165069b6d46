"""Checkpoints at the runner level: trainable-only files, and whether a checkpoint fits a model.

**Trainable-only checkpoints** ("one big model plus n small adapter files"). Saving
(:func:`shrink_checkpoint`, from ``TrainableCheckpointHook``) keeps in
``checkpoint['state_dict']`` only

* every trainable parameter (``requires_grad=True``),
* every buffer (BN statistics, index tables: small, and not always reproducible from a base),
* every *frozen* parameter that was **not loaded** from a base checkpoint: frozen modules without
  ``init_cfg=dict(type='Pretrained', checkpoint=...)``, and the weights a backbone's base file
  lacked (``allow_missing=True``), which are random and cannot be restored from the base,

and records in ``checkpoint['meta']['mmpeft_base']`` which base checkpoints the dropped weights come
from: for every module with a ``Pretrained`` ``init_cfg`` its prefix, path and sha256.

Loading (:func:`restore_checkpoint`, from ``CheckpointLoadHook``, which every runner has once
mmpeft is imported) checks that the model's config points at the same base files (by sha256), runs
``model.init_weights()`` if the runner has not (``Runner.test()``/``val()`` never do), and completes
the state dict with the model's base weights, so mmengine then loads a full state dict. A different
base is an error (:class:`BaseCheckpointMismatchError`) unless ``MMPEFT_ALLOW_BASE_MISMATCH=1`` or
``CheckpointLoadHook(allow_base_mismatch=True)``.

**Fit** (:func:`check_checkpoint_fits`): a checkpoint that would leave parts of the model at their
initial values (missing keys, other shapes) is refused with a summary of what is missing and, when
the checkpoint says so, which model it was saved from.
"""
import logging
import re
from collections import Counter, OrderedDict
from typing import List, Mapping, Optional, Set

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper

from mmpeft.checkpoint import (
    ALLOW_ENV,
    META_KEY,
    BaseCheckpointMismatchError,
    CheckpointMismatchError,
    complete_from_base,
    file_sha256,
    local_sha256,
    mark_bases,
    pretrained_path,
)
from mmpeft.checkpoint.base_weights import base_problem, raise_base_problems
from mmpeft.checkpoint.base_weights import log as _log

__all__ = [
    'ALLOW_ENV', 'META_KEY', 'BaseCheckpointMismatchError', 'file_sha256', 'unwrap_model',
    'base_checkpoints', 'completes_from_base', 'trainable_keys', 'trainable_state_dict',
    'state_dict_bytes', 'is_trainable_only', 'shrink_checkpoint', 'restore_checkpoint',
    'check_checkpoint_fits'
]
FORMAT = 'mmpeft-trainable-only'
VERSION = 1


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP / mmengine model wrapper (the model itself otherwise)."""
    return model.module if is_model_wrapper(model) else model


def _covers(prefix: str, name: str) -> bool:
    return prefix == '' or name == prefix or name.startswith(prefix + '.')


def base_checkpoints(model: nn.Module, hash_files: bool = True) -> List[dict]:
    """``[{'module': prefix, 'path': path, 'sha256': hex or None}]`` for every module of ``model``
    whose ``init_cfg`` is ``Pretrained`` (outermost ones only; ``''`` is the whole model)."""
    found: List[dict] = []
    for name, module in unwrap_model(model).named_modules():
        path = pretrained_path(getattr(module, 'init_cfg', None))
        if path is None or any(_covers(e['module'], name) for e in found):
            continue
        sha = local_sha256(path) if hash_files else None
        found.append(dict(module=name, path=path, sha256=sha))
    return found


def _loaded_from_base(model: nn.Module, prefix: str) -> Optional[Set[str]]:
    """Keys (of ``model``) that the module at ``prefix`` loaded from its base file, when the module
    reports them (mmpeft backbones do, after ``init_weights``); None if unknown."""
    module = model.get_submodule(prefix) if prefix else model
    report = getattr(module, 'pretrained_report', None)
    if report is None:
        return None
    head = prefix + '.' if prefix else ''
    return {head + k for k in report.loaded}


def completes_from_base(module: nn.Module) -> bool:
    """Whether ``module`` completes a trainable-only state dict from its base when one is loaded
    into it (its class sets ``completes_from_base``: the mmpeft backbones)."""
    return bool(getattr(type(module), 'completes_from_base', False))


def trainable_keys(model: nn.Module, base_prefixes: Optional[List[str]] = None) -> List[str]:
    """State-dict keys a trainable-only checkpoint keeps (see the module docstring).

    ``base_prefixes`` None: every frozen parameter counts as coming from a base (the pure
    "trainable parameters plus buffers" set, used for size accounting).
    """
    model = unwrap_model(model)
    loaded = {b: _loaded_from_base(model, b) for b in base_prefixes or []}
    keep = []
    params = dict(model.named_parameters(remove_duplicate=False))
    for key in model.state_dict(keep_vars=True):
        p = params.get(key)
        if p is None or p.requires_grad:  # a buffer (or an extra state entry), or trained
            keep.append(key)
        elif base_prefixes is not None:
            base = next((b for b in base_prefixes if _covers(b, key)), None)
            if base is None or (loaded[base] is not None and key not in loaded[base]):
                keep.append(key)
    return keep


def trainable_state_dict(model: nn.Module,
                         base_prefixes: Optional[List[str]] = None) -> 'OrderedDict':
    """``model.state_dict()`` restricted to :func:`trainable_keys`."""
    keep = set(trainable_keys(model, base_prefixes))
    return OrderedDict((k, v) for k, v in unwrap_model(model).state_dict().items() if k in keep)


def state_dict_bytes(state: Mapping[str, torch.Tensor], prefix: str = '') -> int:
    """Tensor bytes of the entries whose key starts with ``prefix``."""
    return sum(v.numel() * v.element_size() for k, v in state.items()
               if isinstance(v, torch.Tensor) and k.startswith(prefix))


def is_trainable_only(checkpoint: Mapping) -> bool:
    meta = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
    return isinstance(meta, Mapping) and isinstance(meta.get(META_KEY), Mapping)


def shrink_checkpoint(model: nn.Module, checkpoint: dict) -> dict:
    """Reduce ``checkpoint['state_dict']`` in place to the trainable-only set; record the base.

    Returns the ``meta['mmpeft_base']`` record.
    """
    model = unwrap_model(model)
    bases = base_checkpoints(model)
    kept = [b for b in bases if not completes_from_base(model.get_submodule(b['module']))]
    for b in kept:
        _log(f"'{b['module'] or 'model'}' ({type(model.get_submodule(b['module'])).__name__}) "
             'does not complete itself from its base when loaded: its frozen weights stay in the '
             'file', logging.WARNING)
    bases = [b for b in bases if b not in kept]
    for b in bases:
        if b['sha256'] is None:
            _log(f"base checkpoint {b['path']} of '{b['module'] or 'model'}' is not a local file; "
                 'its sha256 cannot be recorded and will not be checked on load', logging.WARNING)
    keep = set(trainable_keys(model, [b['module'] for b in bases]))
    state = checkpoint['state_dict']
    full_bytes = state_dict_bytes(state)
    small = OrderedDict((k, v) for k, v in state.items() if k in keep)
    frozen_kept = [k for k, p in model.named_parameters() if not p.requires_grad and k in keep]
    if frozen_kept:
        _log(f'{len(frozen_kept)} frozen parameters were not loaded from a Pretrained base '
             f'checkpoint and are kept in the file (e.g. {frozen_kept[:3]})', logging.WARNING)
    small._metadata = getattr(state, '_metadata', OrderedDict())  # type: ignore[attr-defined]
    mark_bases(small, {b['module']: b for b in bases})
    checkpoint['state_dict'] = small
    record = dict(format=FORMAT, version=VERSION, bases=bases, kept_keys=len(small),
                  dropped_keys=len(state) - len(small), full_bytes=full_bytes,
                  kept_bytes=state_dict_bytes(small))
    checkpoint.setdefault('meta', {})[META_KEY] = record
    return record


def check_bases(model: nn.Module, record: Mapping, allow_mismatch: Optional[bool] = None) -> None:
    """Check that ``model``'s config loads the base files a trainable-only checkpoint's
    ``record`` names (by sha256; the path may differ), without loading anything.

    Raises:
        BaseCheckpointMismatchError: a base differs or is missing (unless allowed).
    """
    current = {b['module']: b['path'] for b in base_checkpoints(model, hash_files=False)}
    problems = {}
    for rec in record.get('bases', []):
        if rec['module'] not in current:
            problems[rec['module']] = (f"was trained on {rec.get('path')} (sha256 "
                                       f"{rec.get('sha256')}) but the config gives it no "
                                       'Pretrained init_cfg checkpoint')
            continue
        problem = base_problem(rec, current[rec['module']])
        if problem:
            problems[rec['module']] = problem
    raise_base_problems(problems, allow_mismatch)


def restore_checkpoint(model: nn.Module, checkpoint: dict,
                       allow_mismatch: Optional[bool] = None) -> bool:
    """Complete a trainable-only ``checkpoint['state_dict']`` from the base weights, in place
    (every recorded base, see :func:`~mmpeft.checkpoint.complete_from_base`).

    No-op (returns False) for ordinary checkpoints and for one already restored.

    Raises:
        BaseCheckpointMismatchError: a recorded base is not the one the config loads, or a
            recorded module is not in the model.
    """
    if not is_trainable_only(checkpoint):
        return False
    record = checkpoint['meta'][META_KEY]
    if record.get('restored'):
        return False
    model = unwrap_model(model)
    state = checkpoint['state_dict']
    head = 'module.' if state and all(k.startswith('module.') for k in state) else ''
    n_small = len(state)
    for rec in record.get('bases', []):
        try:
            module = model.get_submodule(rec['module'])
        except AttributeError:
            raise BaseCheckpointMismatchError(
                f"trainable-only checkpoint: its base record names a module '{rec['module']}' "
                f"(base {rec['path']}) that this model does not have") from None
        prefix = head + (rec['module'] + '.' if rec['module'] else '')
        complete_from_base(module, state, prefix, rec, allow_mismatch)
    checkpoint['meta'][META_KEY] = dict(record, restored=True)
    _log(f'restored a trainable-only checkpoint: {n_small} tensors from the file, '
         f'{len(state) - n_small} from the base weights')
    return True


# ------------------------------------------------------------------------------ fit
def checkpoint_model_type(checkpoint: Mapping) -> Optional[str]:
    """``'Detector(backbone=Backbone)'`` from the config an mmengine checkpoint carries."""
    meta = (checkpoint.get('meta') or {}) if isinstance(checkpoint, Mapping) else {}
    text = meta.get('cfg') or meta.get('config')
    if not isinstance(text, str):
        return None
    from mmengine.config import Config
    try:
        model = Config.fromstring(text, file_format='.py').get('model') or {}
    except Exception:  # noqa: BLE001 - only used to improve an error message
        return None
    backbone = model.get('backbone') or {}
    if not model.get('type'):
        return None
    return f"{model.get('type')}(backbone={backbone.get('type')})"


def _groups(keys: List[str]) -> str:
    """``neck (12), roi_head (40); e.g. neck.fpn_convs.0.conv.weight, ...``."""
    counts = Counter(k.split('.')[0] for k in keys)
    return (', '.join(f'{name} ({n})' for name, n in counts.most_common()) + '; e.g. ' +
            ', '.join(keys[:4]) + (', ...' if len(keys) > 4 else ''))


def check_checkpoint_fits(model: nn.Module, checkpoint: Mapping, source: str,
                          action: str = 'test') -> None:
    """Refuse a checkpoint that would leave tensors of ``model`` at their initial values.

    Every entry of ``model.state_dict()`` must be in the checkpoint's state dict with the same
    shape (a ``module.`` prefix is ignored); unexpected keys are allowed.

    Raises:
        CheckpointMismatchError: naming what is missing or mis-shaped, grouped by module, and the
            model the checkpoint was saved from when its config is recorded.
    """
    state = checkpoint.get('state_dict', checkpoint)
    state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
    own = unwrap_model(model).state_dict()
    missing = [k for k in own if k not in state]
    mismatched = [k for k in own if k in state and hasattr(state[k], 'shape')
                  and tuple(state[k].shape) != tuple(own[k].shape)]
    if not missing and not mismatched:
        return
    lines = [f'{source} does not fit the model of this config: {action} would run with '
             f'{len(missing) + len(mismatched)} of its {len(own)} tensors at their initial '
             'values.']
    if missing:
        lines.append(f'  missing ({len(missing)}): {_groups(missing)}')
    if mismatched:
        lines.append(f'  other shape ({len(mismatched)}): ' + ', '.join(
            f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}' for k in mismatched[:3]))
    saved_from = checkpoint_model_type(checkpoint)
    built = type(unwrap_model(model)).__name__
    backbone = getattr(unwrap_model(model), 'backbone', None)
    if backbone is not None:
        built += f'(backbone={type(backbone).__name__})'
    if saved_from:
        lines.append(f'  the checkpoint was saved from {saved_from}; this config builds {built}')
    elif len(missing) > len(own) // 2:
        lines.append(f'  this config builds {built}; the checkpoint has '
                     f'{len(state)} tensors, e.g. {list(state)[:3]} (a backbone-only or '
                     'converted file?)')
    raise CheckpointMismatchError('\n'.join(lines))
