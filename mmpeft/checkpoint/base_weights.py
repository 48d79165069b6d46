"""Which base file a trainable-only checkpoint sits on, and completing it from that file.

A trainable-only checkpoint (written by ``TrainableCheckpointHook``, see
:mod:`mmpeft.engine.checkpoint`) lacks the frozen weights that a module loaded from its
``init_cfg=dict(type='Pretrained', checkpoint=BASE)``. It records, for each such module, the base
file's path and sha256 (a *base record*) in two places:

* ``checkpoint['meta']['mmpeft_base']`` (the whole record, for people and for the runner), and
* the state dict's own metadata, ``state_dict._metadata[prefix]['mmpeft_base']``, which PyTorch
  saves with the state dict and hands to the module at ``prefix`` when any API loads it
  (``nn.Module.load_state_dict``, mmengine's ``load_checkpoint`` / ``Runner.load_checkpoint``, so
  mmdet's ``init_detector`` and ``DetInferencer``, mmseg's ``init_model`` and
  ``MMSegInferencer``).

:func:`complete_from_base` is the completion, for one module: check that the module's config
points at the same base (sha256; the path may differ), load it (``module.init_weights()``) and put
the module's frozen weights into the state dict. The mmpeft backbones call it as they load their
part of a state dict (:class:`~mmpeft.models.backbones.base.PEFTBackboneMixin`), so whatever loads
the checkpoint gets the trained model, or a :class:`BaseCheckpointMismatchError` naming the files.
"""
import hashlib
import logging
import os
from collections import OrderedDict
from typing import Dict, List, Mapping, MutableMapping, Optional, Set, Tuple

import torch.nn as nn
from mmengine.logging import print_log

META_KEY = 'mmpeft_base'
ALLOW_ENV = 'MMPEFT_ALLOW_BASE_MISMATCH'

_SHA_CACHE: Dict[Tuple[str, int, float], str] = {}


class BaseCheckpointMismatchError(RuntimeError):
    """A trainable-only checkpoint is loaded onto other base weights than it was trained on."""


def log(msg: str, level: int = logging.INFO) -> None:
    print_log(f'[checkpoint] {msg}', logger='current', level=level)


def pretrained_path(init_cfg) -> Optional[str]:
    """The checkpoint path of the ``Pretrained`` entry of an ``init_cfg`` (dict or list)."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for cfg in cfgs:
        if isinstance(cfg, Mapping) and cfg.get('type') == 'Pretrained' and cfg.get('checkpoint'):
            return str(cfg['checkpoint'])
    return None


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


def local_sha256(path: Optional[str]) -> Optional[str]:
    """sha256 of ``path`` if it is an existing local file, else None."""
    if path is None or '://' in path or not os.path.isfile(os.path.expanduser(path)):
        return None
    return file_sha256(path)


def allowed(allow_mismatch: Optional[bool] = None) -> bool:
    """Whether a base mismatch is only a warning (option, or ``MMPEFT_ALLOW_BASE_MISMATCH=1``)."""
    return bool(allow_mismatch) or os.environ.get(ALLOW_ENV, '') == '1'


# ------------------------------------------------------------------ records in a state dict
def mark_bases(state_dict: 'OrderedDict', records: Mapping[str, Mapping]) -> 'OrderedDict':
    """Record ``{module prefix: {'path', 'sha256'}}`` in ``state_dict._metadata`` (in place)."""
    metadata = OrderedDict(getattr(state_dict, '_metadata', None) or {})
    for prefix, rec in records.items():
        metadata[prefix] = dict(metadata.get(prefix) or {},
                                **{META_KEY: dict(path=rec['path'], sha256=rec['sha256'])})
    state_dict._metadata = metadata  # type: ignore[attr-defined]
    return state_dict


def recorded_base(local_metadata: Optional[Mapping]) -> Optional[Mapping]:
    """The base record that a state dict carries for one module (its ``local_metadata``)."""
    rec = (local_metadata or {}).get(META_KEY)
    return rec if isinstance(rec, Mapping) else None


# ------------------------------------------------------------------ the check and completion
def _trained_on(recorded: Mapping) -> str:
    return f"{recorded.get('path')} (sha256 {recorded.get('sha256')})"


def base_problem(recorded: Mapping, current: Optional[str]) -> Optional[str]:
    """Why the base file ``current`` (the module's config) is not the ``recorded`` one; None when
    it is (same sha256; the path may differ)."""
    if not recorded.get('sha256'):
        return None  # the record could not hash a remote base: nothing to compare
    sha = local_sha256(current)
    if sha is None:
        return (f'was trained on {_trained_on(recorded)} but its base file {current} from the '
                'config does not exist (or is not a local file)')
    if sha != recorded['sha256']:
        return (f'was trained on {_trained_on(recorded)} but the config loads {current} '
                f'(sha256 {sha})')
    return None


def raise_base_problems(problems: Mapping[str, str], allow_mismatch: Optional[bool] = None
                        ) -> None:
    """Report ``{module: problem}``: an error naming the files, or a warning when allowed."""
    if not problems:
        return
    msg = ('trainable-only checkpoint does not sit on the base weights of this config:\n  - ' +
           '\n  - '.join(f"'{m or 'model'}' {p}" for m, p in problems.items()))
    if allowed(allow_mismatch):
        log(msg + f'\ncontinuing because of {ALLOW_ENV}=1 / allow_base_mismatch=True',
            logging.WARNING)
        return
    raise BaseCheckpointMismatchError(
        msg + f'\nUse the base checkpoint it was trained on, or set {ALLOW_ENV}=1 (or '
        "default_hooks=dict(checkpoint_load=dict(type='CheckpointLoadHook', "
        'allow_base_mismatch=True))) to load it anyway.')


def base_file(module: nn.Module, where: str, recorded: Mapping,
              allow_mismatch: Optional[bool] = None) -> str:
    """The base file to complete ``module`` from: its ``Pretrained`` ``init_cfg`` checkpoint,
    checked against ``recorded`` (sha256); without one (mmdet's ``init_detector`` and mmseg's
    ``init_model`` drop the backbone's ``init_cfg``), the recorded file if it still is the one.

    Raises:
        BaseCheckpointMismatchError: naming the recorded file and the one found.
    """
    current = pretrained_path(getattr(module, 'init_cfg', None))
    if current is not None:
        problem = base_problem(recorded, current)
        raise_base_problems({where: problem} if problem else {}, allow_mismatch)
        return current
    path = str(recorded.get('path'))
    sha = local_sha256(path)
    if sha is not None and (sha == recorded.get('sha256') or not recorded.get('sha256')):
        return path
    found = 'does not exist' if sha is None else f'is now another file (sha256 {sha})'
    msg = (f"trainable-only checkpoint: '{where or 'model'}' was trained on "
           f'{_trained_on(recorded)}; the config gives it no Pretrained init_cfg checkpoint '
           "(mmdet's init_detector removes it unless given cfg_options, mmseg's init_model "
           f'always) and that file {found}. Put the base file back there, or give it in the '
           "config (model.backbone.init_cfg=dict(type='Pretrained', checkpoint=PATH)), e.g. "
           'init_detector(config, checkpoint, cfg_options={"model.backbone.init_cfg": '
           'dict(type="Pretrained", checkpoint=PATH)})')
    if sha is not None and allowed(allow_mismatch):
        log(msg + f'\ncontinuing because of {ALLOW_ENV}=1', logging.WARNING)
        return path
    raise BaseCheckpointMismatchError(msg)


def params_missing(module: nn.Module, state_dict: Mapping, prefix: str) -> List[str]:
    """The parameters of ``module`` (relative names) that ``state_dict`` lacks at ``prefix``: in a
    trainable-only file, the ones its base provides (it keeps every trained parameter, every
    buffer and every weight that did not come from the base)."""
    return [k for k, _ in module.named_parameters() if prefix + k not in state_dict]


def load_base(module: nn.Module, path: str) -> Optional[Set[str]]:
    """Load the base file ``path`` into ``module``; the keys it set (None: all of them)."""
    if hasattr(module, 'load_pretrained'):  # the mmpeft backbones: checked loading, a report
        report = module.load_pretrained(path, map_location='cpu', allow_missing=True)
        return set(report.loaded)
    if not getattr(module, 'is_init', False):
        module.init_weights()  # its Pretrained init_cfg is ``path`` (see base_file)
    return None


def complete_from_base(module: nn.Module, state_dict: MutableMapping, prefix: str,
                       recorded: Mapping, allow_mismatch: Optional[bool] = None) -> int:
    """Put the weights of ``module`` (at ``prefix`` in ``state_dict``) that the trainable-only
    state dict lacks into it, from the module's base file (:func:`base_file`, checked against
    ``recorded``). Returns the number of tensors added (0, and no check, if none is missing).

    Raises:
        BaseCheckpointMismatchError: the base file is missing or another file than
            ``recorded`` (naming both), unless allowed.
    """
    missing = params_missing(module, state_dict, prefix)
    if not missing:
        return 0
    where = prefix[:-1]
    path = base_file(module, where, recorded, allow_mismatch)
    if not hasattr(module, 'load_pretrained') and pretrained_path(
            getattr(module, 'init_cfg', None)) != path:
        raise BaseCheckpointMismatchError(
            f"trainable-only checkpoint: '{where or 'model'}' ({type(module).__name__}) can only "
            f'be completed from its Pretrained init_cfg; give it {path}')
    log(f"completing the trainable-only checkpoint of '{where or 'model'}' from {path}")
    loaded = load_base(module, path)
    own = module.state_dict()
    filled = [k for k in missing if loaded is None or k in loaded]
    for k in filled:
        state_dict[prefix + k] = own[k].detach()
    return len(filled)
