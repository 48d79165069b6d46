"""Pretrained-weight loading for the PEFT backbones, with checks, for every backbone family.

:func:`load_backbone_checkpoint` is the whole procedure: read a file safely
(:func:`read_state_dict`), keep the backbone's keys (:func:`select_backbone_keys`), bring them into
the model's own layout with the family's :class:`CheckpointFormat` (Swin:
:mod:`.layouts.swin`, ViT: :mod:`.layouts.vit`) and load them with
:func:`load_checked_state_dict`, which refuses to continue when the file does not fit:

* a matched key with another shape is an error;
* a file that provides less than ``min_ratio`` (90%) of the weights that must come from it is the
  wrong file (another architecture or layout): an error;
* any other weight that must come from the file but is missing would stay at its random
  initialisation while frozen: an error, unless ``allow_missing=True``;
* a file that carries some but not all of the model's own PEFT parameters (the ones that need not
  come from it), or weights inside the backbone that the model does not have (another method's
  modules), belongs to another method or setting: an error.
"""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

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
    """What :func:`load_checked_state_dict` did. Keys are relative to the backbone."""
    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    matched_ratio: float = 0.0
    notes: Dict[str, object] = field(default_factory=dict)


def _never(key: str) -> bool:
    return False


@dataclass(frozen=True)
class CheckpointFormat:
    """How one backbone family's checkpoint files are brought into the model's own layout.

    Attributes:
        family: name used in messages (``'Swin'``, ``'ViT'``).
        convert: prefix-free state dict -> ``(state in the model's layout, layout name)``; the
            layout name is ``'unknown'`` when no known key layout was found.
        adapt: ``adapt(state, model, logger)`` resizes tables in place for the model's sizes.
        unused: checkpoint keys that the backbone never uses (classifier heads): dropped, logged.
        not_pretrained: model keys no checkpoint provides (buffers recomputed by the model,
            output norms kept at identity): never loaded, never reported missing.
    """
    family: str
    convert: Callable[[StateDict], Tuple[StateDict, str]]
    adapt: Optional[Callable[[StateDict, nn.Module, MMLogger], None]] = None
    unused: Callable[[str], bool] = _never
    not_pretrained: Callable[[str], bool] = _never


def read_state_dict(filename: str, map_location: str = 'cpu') -> StateDict:
    """Load ``filename`` safely and return its flat ``{key: tensor}`` state dict.

    Unwraps ``{'state_dict': ...}`` (mmengine runner checkpoints), ``{'model': ...}`` (Microsoft /
    timm training checkpoints) and ``{'module': ...}``; non-tensor entries are dropped.

    Raises:
        FileNotFoundError: the file does not exist.
        mmpeft.compat.CorruptCheckpointError: the file is not a readable PyTorch checkpoint.
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


def preview(keys: Sequence[str], n: int = 20) -> str:
    """The first ``n`` keys, comma-separated, and how many more there are."""
    keys = list(keys)
    if len(keys) <= n:
        return ', '.join(keys)
    return ', '.join(keys[:n]) + f', ... ({len(keys) - n} more)'


def load_checked_state_dict(module: nn.Module,
                            state: StateDict,
                            source: str,
                            *,
                            required: Optional[Callable[[str], bool]] = None,
                            expected_missing: Optional[Callable[[str], bool]] = None,
                            not_pretrained: Callable[[str], bool] = _never,
                            min_ratio: float = 0.9,
                            allow_missing: bool = False,
                            logger: Optional[MMLogger] = None) -> LoadReport:
    """Load an already converted ``state`` into ``module`` with strict coverage checks.

    Args:
        module: the backbone.
        state: keys in ``module``'s own naming.
        source: file name (used in messages).
        required: parameter names that must come from the checkpoint. Default: all frozen
            parameters.
        expected_missing: keys whose absence is normal (adapters, prompts); they are summarised
            instead of listed as missing.
        not_pretrained: keys no checkpoint provides (recomputed buffers, output norms); never
            loaded, never reported.
        min_ratio: below this loaded share of the required parameters' elements the file is the
            wrong one.
        allow_missing: accept required parameters that the file lacks (they keep their initial
            values; a warning names them).
        logger: defaults to ``MMLogger.get_current_instance()``.

    Raises:
        CheckpointMismatchError: a matched key has a different shape, the coverage is below
            ``min_ratio``, or (without ``allow_missing``) a required parameter is missing.
    """
    logger = logger or MMLogger.get_current_instance()
    expected_missing = expected_missing or (lambda k: False)
    if required is None:
        frozen = {n for n, p in module.named_parameters() if not p.requires_grad}
        required = frozen.__contains__
    own = module.state_dict()
    params = dict(module.named_parameters())
    model_name = type(module).__name__

    to_load, unexpected, mismatched = OrderedDict(), [], []
    for k, v in state.items():
        if not_pretrained(k):
            continue
        if k not in own:
            unexpected.append(k)
        elif tuple(v.shape) != tuple(own[k].shape):
            mismatched.append(f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}')
        else:
            to_load[k] = v
    if mismatched:
        raise CheckpointMismatchError(
            f'{source}: {len(mismatched)} tensors have the wrong shape for {model_name} '
            f'(different architecture?): {preview(mismatched, 5)}')

    req_names = [n for n in params if required(n) and not not_pretrained(n)]
    req_total = sum(params[n].numel() for n in req_names)
    req_loaded = sum(params[n].numel() for n in req_names if n in to_load)
    ratio = req_loaded / req_total if req_total else 1.0
    missing_req = [n for n in req_names if n not in to_load]
    if ratio < min_ratio:
        raise CheckpointMismatchError(
            f'{source}: only {ratio:.1%} of the pretrained weights of {model_name} were found in '
            f'the checkpoint (<{min_ratio:.0%} matched; wrong architecture or layout?). Missing '
            f'e.g.: {preview(missing_req, 8)}. Unused checkpoint keys e.g.: '
            f'{preview(unexpected, 8)}')
    optional = [n for n in params if not required(n) and not not_pretrained(n)]
    found = [n for n in optional if n in to_load]
    children = {name for name, _ in module.named_children()}
    foreign = [k for k in unexpected if k.split('.')[0] in children]
    if optional and (foreign or 0 < len(found) < len(optional)):
        raise CheckpointMismatchError(
            f'{source}: the checkpoint carries weights that do not fit the PEFT parameters of '
            f'{model_name}: {len(found)} of its {len(optional)} found'
            + (f', and weights inside the backbone that it does not have: {preview(foreign, 6)}'
               if foreign else '') + '. A checkpoint of another method or setting?')
    if missing_req and not allow_missing:
        raise CheckpointMismatchError(
            f'{source}: {len(missing_req)} pretrained weights of {model_name} are not in the '
            f'checkpoint ({ratio:.2%} found): {preview(missing_req, 8)}. They would keep their '
            f'random initialisation (and stay frozen). Use the complete checkpoint, or set '
            f"init_cfg=dict(type='Pretrained', checkpoint=..., allow_missing=True) to accept "
            f'that.')

    module.load_state_dict(to_load, strict=False)

    missing_all = [k for k in own if k not in to_load and not not_pretrained(k)]
    missing = [k for k in missing_all if not expected_missing(k)]
    exp_missing = [k for k in missing_all if expected_missing(k)]
    logger.info(f'{model_name}: loaded {len(to_load)} tensors from {source} '
                f'({ratio:.2%} of the pretrained weights)')
    if exp_missing:
        logger.info(f'{len(exp_missing)} tensors not in the checkpoint, as expected '
                    f'(kept at their initial values): {preview(exp_missing, 10)}')
    if missing:
        logger.warning(f'missing keys in {source} (kept at their initial values): '
                       f'{preview(missing)}')
    if unexpected:
        logger.warning(f'unexpected keys in {source} (ignored): {preview(unexpected)}')
    return LoadReport(
        source=source,
        loaded=list(to_load),
        missing=missing,
        unexpected=unexpected,
        matched_ratio=ratio)


def load_backbone_checkpoint(model: nn.Module,
                             filename: str,
                             fmt: CheckpointFormat,
                             *,
                             map_location: str = 'cpu',
                             prefix: Optional[str] = None,
                             min_ratio: float = 0.9,
                             pretrained: Optional[Callable[[str], bool]] = None,
                             allow_missing: bool = False,
                             logger: Optional[MMLogger] = None) -> LoadReport:
    """Load a checkpoint of ``fmt``'s family into ``model``, with checks.

    ``pretrained`` names the parameters that must come from the file (default: the model's frozen
    parameters); see :func:`load_checked_state_dict` for the checks. The report's ``notes`` hold
    the file's ``layout`` and its ``unused`` keys (dropped, never loaded).

    Raises:
        FileNotFoundError, mmpeft.compat.CorruptCheckpointError,
        mmpeft.compat.UnsafeCheckpointError, CheckpointMismatchError.
    """
    logger = logger or MMLogger.get_current_instance()
    raw = read_state_dict(filename, map_location=map_location)
    state, ignored = select_backbone_keys(raw, prefix)
    state, layout = fmt.convert(state)
    if layout == 'unknown':
        raise CheckpointMismatchError(
            f'{filename} holds no {fmt.family} weights in a known layout: 0.0% of the pretrained '
            f'weights of {type(model).__name__} found (<{min_ratio:.0%} matched; wrong '
            f'architecture or layout?). First keys: {list(state)[:5]}')
    unused_keys = [k for k in state if fmt.unused(k)]
    unused = sorted({k.split('.')[0] for k in unused_keys})
    state = OrderedDict((k, v) for k, v in state.items() if not fmt.unused(k))
    logger.info(f'{filename}: {fmt.family} checkpoint layout "{layout}"'
                + (f', {len(ignored)} non-backbone keys ignored' if ignored else '')
                + (f', unused by the backbone: {", ".join(unused)}' if unused else ''))
    if fmt.adapt is not None:
        fmt.adapt(state, model, logger)
    if pretrained is None:
        pretrained = {n for n, p in model.named_parameters() if not p.requires_grad}.__contains__
    report = load_checked_state_dict(
        model,
        state,
        filename,
        required=pretrained,
        expected_missing=lambda n: not pretrained(n),
        not_pretrained=fmt.not_pretrained,
        min_ratio=min_ratio,
        allow_missing=allow_missing,
        logger=logger)
    report.notes['layout'] = layout
    report.notes['unused'] = unused_keys
    return report
