"""Architecture-independent pieces of pretrained-weight loading for PEFT backbones.

:func:`read_state_dict` reads a checkpoint file safely and unwraps it to a flat ``{key: tensor}``
dict; :func:`select_backbone_keys` drops DDP/detector prefixes; :func:`load_checked_state_dict`
loads a converted state dict into a backbone and *refuses* to continue if it does not cover the
backbone's frozen (pretrained) parameters, so a wrong file can never silently leave the frozen
network at random weights.
"""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

from mmpeft.compat import load_checkpoint_file

StateDict = Dict[str, torch.Tensor]
_WRAPPERS = ('state_dict', 'model', 'module')


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the backbone it is loaded into."""


@dataclass
class LoadReport:
    """What :func:`load_checked_state_dict` did."""
    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    matched_ratio: float = 0.0
    notes: Dict[str, object] = field(default_factory=dict)


def read_state_dict(filename: str, map_location: str = 'cpu') -> StateDict:
    """Load ``filename`` safely and return its flat ``{key: tensor}`` state dict.

    Unwraps ``{'state_dict': ...}`` (mmengine runner checkpoints), ``{'model': ...}`` (Microsoft /
    timm training checkpoints) and ``{'module': ...}``; non-tensor entries are dropped.

    Raises:
        FileNotFoundError: the file does not exist.
        mmpeft.compat.UnsafeCheckpointError: the file needs pickled objects other than weights.
        CheckpointMismatchError: the file holds no tensors.
    """
    obj = load_checkpoint_file(filename, map_location=map_location)
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), Mapping)), None)
        if inner is None or any(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise CheckpointMismatchError(
            f'{filename} does not contain a state dict (got {type(obj).__name__})')
    state = OrderedDict((str(k), v) for k, v in obj.items() if isinstance(v, torch.Tensor))
    if not state:
        raise CheckpointMismatchError(
            f'{filename} contains no weight tensors (top-level keys: {list(obj)[:10]})')
    return state


def strip_prefix(state: StateDict, prefix: str) -> StateDict:
    """Keys that start with ``prefix``, with it removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))


def select_backbone_keys(state: StateDict,
                         prefix: Optional[str] = None) -> Tuple[StateDict, List[str]]:
    """Strip a ``module.`` (DDP) prefix, then keep only the backbone's keys.

    With ``prefix`` None, ``backbone.`` is used when any key carries it (whole detector or
    segmentor checkpoints); otherwise all keys are the backbone's.

    Returns:
        ``(backbone_state, ignored_keys)``.
    """
    if state and all(k.startswith('module.') for k in state):
        state = strip_prefix(state, 'module.')
    if prefix is None:
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in state) else ''
    if not prefix:
        return OrderedDict(state), []
    ignored = [k for k in state if not k.startswith(prefix)]
    return strip_prefix(state, prefix), ignored


def _preview(keys: List[str], n: int = 20) -> str:
    if len(keys) <= n:
        return ', '.join(keys)
    return ', '.join(keys[:n]) + f', ... ({len(keys) - n} more)'


def load_checked_state_dict(module: nn.Module,
                            state: StateDict,
                            source: str,
                            *,
                            required: Optional[Callable[[str], bool]] = None,
                            expected_missing: Optional[Callable[[str], bool]] = None,
                            derived: Optional[Callable[[str], bool]] = None,
                            min_ratio: float = 0.9,
                            logger: Optional[MMLogger] = None) -> LoadReport:
    """Load an already converted ``state`` into ``module`` with strict coverage checks.

    Args:
        module: the backbone.
        state: keys in ``module``'s own naming.
        source: file name (used in messages).
        required: parameter names that must come from the checkpoint; the loaded share of their
            elements must reach ``min_ratio``. Default: all frozen parameters.
        expected_missing: keys whose absence is normal (adapters, prompts, output norms); they are
            summarised instead of listed as missing.
        derived: buffers recomputed by the module (e.g. relative position indices); never loaded,
            never reported.
        min_ratio: minimum covered share of the required parameters' elements.
        logger: defaults to ``MMLogger.get_current_instance()``.

    Raises:
        CheckpointMismatchError: a matched key has a different shape, or the coverage is below
            ``min_ratio``.
    """
    logger = logger or MMLogger.get_current_instance()
    derived = derived or (lambda k: False)
    expected_missing = expected_missing or (lambda k: False)
    if required is None:
        frozen = {n for n, p in module.named_parameters() if not p.requires_grad}
        required = frozen.__contains__
    own = module.state_dict()
    params = dict(module.named_parameters())

    to_load, unexpected, mismatched = OrderedDict(), [], []
    for k, v in state.items():
        if derived(k):
            continue
        if k not in own:
            unexpected.append(k)
        elif tuple(v.shape) != tuple(own[k].shape):
            mismatched.append(f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}')
        else:
            to_load[k] = v
    if mismatched:
        raise CheckpointMismatchError(
            f'{source}: {len(mismatched)} tensors have the wrong shape for '
            f'{type(module).__name__} (different architecture?): {_preview(mismatched, 5)}')

    req_names = [n for n in params if required(n)]
    req_total = sum(params[n].numel() for n in req_names)
    req_loaded = sum(params[n].numel() for n in req_names if n in to_load)
    ratio = req_loaded / req_total if req_total else 1.0
    if ratio < min_ratio:
        missing_req = [n for n in req_names if n not in to_load]
        raise CheckpointMismatchError(
            f'{source}: only {ratio:.1%} of the frozen parameters of {type(module).__name__} '
            f'were found in the checkpoint (<{min_ratio:.0%} matched; wrong architecture or '
            f'layout?). Missing e.g.: {_preview(missing_req, 8)}. Unused checkpoint keys e.g.: '
            f'{_preview(unexpected, 8)}')

    module.load_state_dict(to_load, strict=False)

    missing_all = [k for k in own if k not in to_load and not derived(k)]
    missing = [k for k in missing_all if not expected_missing(k)]
    exp_missing = [k for k in missing_all if expected_missing(k)]
    logger.info(f'{type(module).__name__}: loaded {len(to_load)} tensors from {source} '
                f'({ratio:.2%} of the frozen parameters)')
    if exp_missing:
        logger.info(f'{len(exp_missing)} tensors not in the checkpoint, as expected '
                    f'(kept at their initial values): {_preview(exp_missing, 10)}')
    if missing:
        logger.warning(f'missing keys in {source}: {_preview(missing)}')
    if unexpected:
        logger.warning(f'unexpected keys in {source} (ignored): {_preview(unexpected)}')
    return LoadReport(
        source=source,
        loaded=list(to_load),
        missing=missing,
        unexpected=unexpected,
        matched_ratio=ratio)
