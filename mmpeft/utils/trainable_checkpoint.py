"""Trainable-only checkpoints: "one big model plus n small adapter files".

Saving (:func:`shrink_checkpoint`, called from a hook's ``before_save_checkpoint``) keeps in
``checkpoint['state_dict']`` only

* every trainable parameter (``requires_grad=True``),
* every buffer (BN statistics, index tables: small, and not always reproducible from a base),
* every *frozen* parameter that does **not** come from a base checkpoint (a frozen module without
  ``init_cfg=dict(type='Pretrained', checkpoint=...)`` would otherwise be lost),

and records in ``checkpoint['meta']['mmpeft_base']`` which base checkpoints the dropped weights come
from: for every module with a ``Pretrained`` ``init_cfg`` its prefix, path and sha256.

Loading (:func:`restore_checkpoint`, called from ``after_load_checkpoint``, i.e. after mmengine
read the file and *before* it copies the state dict into the model) checks that the model's
config points at the same base files (by sha256), runs ``model.init_weights()`` if the runner has
not (``Runner.test()``/``val()`` never do, ``Runner.train()`` does before loading/resuming), and
completes the state dict with the model's base weights, so mmengine then loads a full state dict.
A mismatching base is an error (:class:`BaseCheckpointMismatchError`) unless
``MMPEFT_ALLOW_BASE_MISMATCH=1`` or the hook's ``allow_base_mismatch=True``.

``tools/test.py CONFIG SMALL.pth`` works when the config has a ``FreezeBackboneHook`` or a
``TrainableCheckpointHook``; :func:`ensure_loader_hook` adds one to any config.
"""
import hashlib
import logging
import os
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

META_KEY = 'mmpeft_base'
FORMAT = 'mmpeft-trainable-only'
VERSION = 1
ALLOW_ENV = 'MMPEFT_ALLOW_BASE_MISMATCH'

_SHA_CACHE: Dict[Tuple[str, int, float], str] = {}


class BaseCheckpointMismatchError(RuntimeError):
    """A trainable-only checkpoint is loaded onto other base weights than it was trained on."""


def _log(msg: str, level: int = logging.INFO) -> None:
    print_log(f'[trainable-checkpoint] {msg}', logger='current', level=level)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def file_sha256(path: str) -> str:
    """sha256 of a local file (cached per path, size and mtime)."""
    path = os.path.abspath(os.path.expanduser(path))
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 22), b''):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _pretrained_path(init_cfg) -> Optional[str]:
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for cfg in cfgs:
        if isinstance(cfg, Mapping) and cfg.get('type') == 'Pretrained' and cfg.get('checkpoint'):
            return str(cfg['checkpoint'])
    return None


def base_checkpoints(model: nn.Module, hash_files: bool = True) -> List[dict]:
    """``[{'module': prefix, 'path': path, 'sha256': hex or None}]`` for every module of ``model``
    whose ``init_cfg`` is ``Pretrained`` (outermost ones only; ``''`` is the whole model)."""
    found: List[dict] = []
    for name, module in unwrap(model).named_modules():
        path = _pretrained_path(getattr(module, 'init_cfg', None))
        if path is None or any(_covers(e['module'], name) for e in found):
            continue
        sha = None
        if hash_files and '://' not in path and os.path.isfile(os.path.expanduser(path)):
            sha = file_sha256(path)
        found.append(dict(module=name, path=path, sha256=sha))
    return found


def _covers(prefix: str, name: str) -> bool:
    return prefix == '' or name == prefix or name.startswith(prefix + '.')


def trainable_keys(model: nn.Module, base_prefixes: Optional[List[str]] = None) -> List[str]:
    """State-dict keys a trainable-only checkpoint keeps (see the module docstring).

    ``base_prefixes`` None: every frozen parameter counts as coming from a base (the pure
    "trainable parameters plus buffers" set, used for size accounting).
    """
    model = unwrap(model)
    keep = []
    params = dict(model.named_parameters(remove_duplicate=False))
    for key in model.state_dict(keep_vars=True):
        p = params.get(key)
        if p is None:  # a buffer (or an extra state entry)
            keep.append(key)
        elif p.requires_grad:
            keep.append(key)
        elif base_prefixes is not None and not any(_covers(b, key) for b in base_prefixes):
            keep.append(key)
    return keep


def trainable_state_dict(model: nn.Module,
                         base_prefixes: Optional[List[str]] = None) -> 'OrderedDict':
    """``model.state_dict()`` restricted to :func:`trainable_keys`."""
    keep = set(trainable_keys(model, base_prefixes))
    return OrderedDict((k, v) for k, v in unwrap(model).state_dict().items() if k in keep)


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
    model = unwrap(model)
    bases = base_checkpoints(model)
    for b in bases:
        if b['sha256'] is None:
            _log(f"base checkpoint {b['path']} of '{b['module'] or 'model'}' is not a local file; "
                 'its sha256 cannot be recorded and will not be checked on load', logging.WARNING)
    prefixes = [b['module'] for b in bases]
    keep = set(trainable_keys(model, prefixes))
    state = checkpoint['state_dict']
    full_bytes = state_dict_bytes(state)
    small = OrderedDict((k, v) for k, v in state.items() if k in keep)
    dropped = len(state) - len(small)
    frozen_kept = [k for k, p in model.named_parameters() if not p.requires_grad and k in keep]
    if frozen_kept:
        _log(f'{len(frozen_kept)} frozen parameters do not come from a Pretrained base checkpoint '
             f'and are kept in the file (e.g. {frozen_kept[:3]}); set init_cfg=dict('
             "type='Pretrained', checkpoint=...) on the frozen module to make the file small",
             logging.WARNING)
    checkpoint['state_dict'] = small
    record = dict(format=FORMAT, version=VERSION, bases=bases, kept_keys=len(small),
                  dropped_keys=dropped, full_bytes=full_bytes,
                  kept_bytes=state_dict_bytes(small))
    checkpoint.setdefault('meta', {})[META_KEY] = record
    return record


def _allowed(allow_mismatch: Optional[bool]) -> bool:
    return bool(allow_mismatch) or os.environ.get(ALLOW_ENV, '') == '1'


def check_bases(model: nn.Module, record: Mapping, allow_mismatch: Optional[bool] = None) -> None:
    """Compare the recorded base checkpoints with the ones ``model``'s config points at."""
    current = {b['module']: b for b in base_checkpoints(model)}
    problems = []
    for rec in record.get('bases', []):
        cur = current.get(rec['module'])
        what = f"'{rec['module'] or 'model'}'"
        if cur is None:
            problems.append(f'{what} was trained on {rec["path"]} (sha256 {rec["sha256"]}) but '
                            'the config gives it no Pretrained init_cfg checkpoint')
        elif rec.get('sha256') and cur.get('sha256') and rec['sha256'] != cur['sha256']:
            problems.append(f'{what} was trained on {rec["path"]} (sha256 {rec["sha256"]}) but '
                            f'the config loads {cur["path"]} (sha256 {cur["sha256"]})')
        elif rec.get('sha256') and cur.get('sha256') is None:
            problems.append(f'{what}: base {cur["path"]} cannot be hashed (not a local file); '
                            f'recorded sha256 {rec["sha256"]}')
    if not problems:
        return
    msg = ('trainable-only checkpoint does not sit on the base weights of this config:\n  - ' +
           '\n  - '.join(problems))
    if _allowed(allow_mismatch):
        _log(msg + f'\ncontinuing because of {ALLOW_ENV}=1 / allow_base_mismatch=True',
             logging.WARNING)
        return
    raise BaseCheckpointMismatchError(
        msg + f'\nUse the base checkpoint it was trained on, or set {ALLOW_ENV}=1 (or '
        'allow_base_mismatch=True on the hook) to load it anyway.')


def restore_checkpoint(model: nn.Module, checkpoint: dict,
                       allow_mismatch: Optional[bool] = None) -> bool:
    """Complete a trainable-only ``checkpoint['state_dict']`` from the base weights, in place.

    No-op (returns False) for ordinary checkpoints and for one already restored.
    """
    if not is_trainable_only(checkpoint):
        return False
    record = checkpoint['meta'][META_KEY]
    if record.get('restored'):
        return False
    model = unwrap(model)
    check_bases(model, record, allow_mismatch)
    if not getattr(model, 'is_init', False):
        _log('initialising the model from its config (base weights) before loading the '
             'trainable-only checkpoint')
        model.init_weights()
    state = checkpoint['state_dict']
    prefix = ''
    if state and all(k.startswith('module.') for k in state):
        prefix = 'module.'
    full = OrderedDict((prefix + k, v.detach().cpu()) for k, v in model.state_dict().items())
    n_small = len(state)
    full.update(state)
    checkpoint['state_dict'] = full
    record = dict(record, restored=True)
    checkpoint['meta'][META_KEY] = record
    _log(f'restored a trainable-only checkpoint: {n_small} tensors from the file, '
         f'{len(full) - n_small} from the base weights')
    return True


def ensure_loader_hook(cfg, checkpoint_path: str) -> bool:
    """For ``tools/test.py``: add a ``TrainableCheckpointHook`` to ``cfg.custom_hooks`` when
    ``checkpoint_path`` is trainable-only and the config has no hook that restores it.

    Returns whether the checkpoint is trainable-only.
    """
    from mmpeft.compat import load_checkpoint_file
    if not os.path.isfile(os.path.expanduser(checkpoint_path)):
        return False
    # memory-mapped: only the metadata is read here; mmengine loads the weights later
    ckpt = load_checkpoint_file(checkpoint_path, map_location='cpu', mmap=True)
    if not is_trainable_only(ckpt):
        return False
    hooks = list(cfg.get('custom_hooks') or [])
    names = {h.get('type') if isinstance(h, Mapping) else type(h).__name__ for h in hooks}
    if not names & {'FreezeBackboneHook', 'TrainableCheckpointHook'}:
        hooks.append(dict(type='TrainableCheckpointHook'))
        cfg.custom_hooks = hooks
    return True
