"""Pretrained-weight loading for mmdet-style Swin backbones (MonaSwinTransformer, VPTSwin, ...).

Accepted files (auto-detected, any of the wrappers ``state_dict`` / ``model`` / ``module`` and an
optional ``backbone.`` or ``module.`` prefix):

* ``microsoft``: official Swin checkpoints (``layers.i.blocks.j.attn.qkv``, ``mlp.fc1``,
  ``layers.i.downsample.reduction``, ``patch_embed.proj``), converted with mmdet's
  ``swin_converter`` (which also re-orders the PatchMerging channels for ``nn.Unfold``).
* ``mona-official``: the same layout plus the official Mona adapters
  ``layers.i.blocks.j.my_module_1/2.*`` -> ``stages.i.blocks.j.mona1/2.*``.
* ``mmdet``: mmdet/mmseg Swin layout (``stages.i.blocks.j.attn.w_msa``, ``ffn.layers``,
  ``patch_embed.projection``), taken as is.
* ``mmpeft``: the mmdet layout plus mmpeft adapters (``mona1``/``mona2``), taken as is.

Keys outside the backbone (neck, heads) are ignored. Relative position indices and attention masks
are recomputed by the model and never loaded; output norms ``norm{i}`` are never loaded (they are
frozen at identity, as in the reference code). Relative position bias tables are resized bicubically
(as mmdet does) when the window size differs.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MMLogger

from .freeze import PEFTBackboneMixin
from .checkpoint import (CheckpointMismatchError, LoadReport, StateDict,
                         load_checked_state_dict, read_state_dict, select_backbone_keys)

OFFICIAL_ADAPTER_NAMES = {'my_module_1': 'mona1', 'my_module_2': 'mona2'}
_OUT_NORM = re.compile(r'^norm\d+\.')
_DERIVED = re.compile(r'(^|\.)(relative_position_index|attn_mask)$')
_BACKBONE_KEYS = ('stages.', 'patch_embed.', 'absolute_pos_embed')
_OFFICIAL_ADAPTER = re.compile(r'^(layers\.\d+\.blocks\.\d+\.)(my_module_[12])(\..+)$')


def is_out_norm_key(key: str) -> bool:
    """``norm0.weight`` etc.: the output norms that are never pretrained."""
    return bool(_OUT_NORM.match(key))


def is_derived_key(key: str) -> bool:
    """Buffers the model recomputes from its configuration (relative position index, masks)."""
    return bool(_DERIVED.search(key))


def detect_swin_layout(state: StateDict) -> str:
    """Name the key layout of a (prefix-free) Swin state dict.

    Returns one of ``'microsoft'``, ``'mona-official'``, ``'mmdet'``, ``'mmpeft'``, ``'unknown'``.
    """
    ms = any(k.startswith('layers.') for k in state)
    mm = any(k.startswith('stages.') for k in state)
    if ms and mm:
        raise CheckpointMismatchError(
            'state dict mixes the Microsoft (layers.*) and mmdet (stages.*) Swin layouts')
    if ms:
        return 'mona-official' if any('.my_module_' in k for k in state) else 'microsoft'
    if mm:
        return 'mmpeft' if any(re.search(r'\.mona[12]\.', k) for k in state) else 'mmdet'
    return 'unknown'


def microsoft_to_mmdet(state: StateDict) -> StateDict:
    """Convert Microsoft-layout Swin keys (optionally with official Mona adapters) to mmdet's."""
    from mmdet.models.backbones.swin import swin_converter
    adapters, swin, passthrough = OrderedDict(), OrderedDict(), OrderedDict()
    for k, v in state.items():
        m = _OFFICIAL_ADAPTER.match(k)
        if k.startswith('head.'):  # swin_converter drops it silently; keep it to be reported
            passthrough[k] = v
        elif m:
            head, name, tail = m.groups()
            adapters['stages' + head[len('layers'):] + OFFICIAL_ADAPTER_NAMES[name] + tail] = v
        else:
            swin[k] = v
    converted = OrderedDict((k[len('backbone.'):], v) for k, v in swin_converter(swin).items())
    converted.update(adapters)
    converted.update(passthrough)
    return converted


def convert_swin_state_dict(state: StateDict,
                            prefix: Optional[str] = None) -> Tuple[StateDict, str, int]:
    """Bring any supported Swin state dict to mmpeft's backbone layout (no prefix).

    Returns:
        ``(state, layout, num_ignored_non_backbone_keys)``; derived buffers and output norms are
        removed.
    """
    state, ignored = select_backbone_keys(state, prefix)
    layout = detect_swin_layout(state)
    if layout in ('microsoft', 'mona-official'):
        state = microsoft_to_mmdet(state)
    state = OrderedDict(
        (k, v) for k, v in state.items() if not is_derived_key(k) and not is_out_norm_key(k))
    return state, layout, len(ignored)


def resize_relative_position_tables(state: StateDict, model: nn.Module,
                                    logger: Optional[MMLogger] = None) -> int:
    """Bicubically resize ``relative_position_bias_table`` entries whose window size differs.

    Returns the number of resized tables. Tables whose number of heads differs are left for the
    shape check to reject.
    """
    logger = logger or MMLogger.get_current_instance()
    own = model.state_dict()
    resized = 0
    for key in [k for k in state if k.endswith('relative_position_bias_table') and k in own]:
        src, dst = state[key], own[key]
        (l1, nh1), (l2, nh2) = src.shape, dst.shape
        if nh1 != nh2 or l1 == l2:
            continue
        s1, s2 = int(round(l1**0.5)), int(round(l2**0.5))
        if s1 * s1 != l1 or s2 * s2 != l2:
            raise CheckpointMismatchError(
                f'cannot resize {key}: non-square relative position tables {l1} -> {l2}')
        table = F.interpolate(
            src.float().permute(1, 0).reshape(1, nh1, s1, s1), size=(s2, s2), mode='bicubic')
        state[key] = table.view(nh2, l2).permute(1, 0).contiguous().to(src.dtype)
        resized += 1
    if resized:
        logger.info(f'resized {resized} relative position bias tables to the model window size')
    return resized


def load_swin_checkpoint(model: nn.Module,
                         filename: str,
                         *,
                         map_location: str = 'cpu',
                         prefix: Optional[str] = None,
                         min_ratio: float = 0.9,
                         pretrained: Optional[Callable[[str], bool]] = None,
                         logger: Optional[MMLogger] = None) -> LoadReport:
    """Load any supported Swin checkpoint into an mmdet-style Swin backbone, with checks.

    The share of the parameters that must come from the file (``pretrained``; default: the
    backbone's frozen parameters), output norms excluded, must reach ``min_ratio``; matched keys
    must have the right shape.

    Raises:
        FileNotFoundError, mmpeft.compat.UnsafeCheckpointError, CheckpointMismatchError.
    """
    logger = logger or MMLogger.get_current_instance()
    raw = read_state_dict(filename, map_location=map_location)
    state, layout, n_ignored = convert_swin_state_dict(raw, prefix)
    logger.info(f'{filename}: Swin checkpoint layout "{layout}"'
                + (f', {n_ignored} non-backbone keys ignored' if n_ignored else ''))
    resize_relative_position_tables(state, model, logger)
    if pretrained is None:
        pretrained = {n for n, p in model.named_parameters() if not p.requires_grad}.__contains__
    report = load_checked_state_dict(
        model,
        state,
        filename,
        required=lambda n: pretrained(n) and not is_out_norm_key(n),
        expected_missing=lambda n: not pretrained(n) or is_out_norm_key(n),
        derived=is_derived_key,
        min_ratio=min_ratio,
        logger=logger)
    report.notes['layout'] = layout
    return report


def to_mmpeft_checkpoint(state: StateDict, prefix: Optional[str] = None,
                         out_prefix: str = 'backbone.') -> Tuple[Dict[str, torch.Tensor], str]:
    """Offline conversion used by ``tools/model_converters/mona2mmpeft.py``.

    Keeps only backbone tensors (``stages.*``, ``patch_embed.*``, ``absolute_pos_embed``), so a
    classification ``norm``/``head`` and detector parts are dropped.

    Returns ``({out_prefix + key: tensor}, layout)`` with keys in mmpeft's backbone layout.
    """
    converted, layout, _ = convert_swin_state_dict(state, prefix)
    if layout == 'unknown':
        raise CheckpointMismatchError('no Swin keys (layers.* or stages.*) found')
    return OrderedDict((out_prefix + k, v.contiguous()) for k, v in converted.items()
                       if k.startswith(_BACKBONE_KEYS)), layout


class SwinPEFTBackboneMixin(PEFTBackboneMixin):
    """:class:`PEFTBackboneMixin` for mmdet-Swin based backbones: loads every Swin layout."""

    @classmethod
    def swin_kwargs(cls, kwargs: dict) -> dict:
        """Check mmdet ``SwinTransformer`` kwargs for a PEFT backbone and normalise them.

        ``frozen_stages`` > 0 is refused (mmdet would freeze the PEFT parameters of the first
        stages and put them in eval mode; the Swin weights are frozen anyway); ``pretrained=PATH``
        becomes a ``Pretrained`` ``init_cfg``.
        """
        kwargs = dict(kwargs)
        frozen_stages = kwargs.get('frozen_stages', -1)
        if frozen_stages > 0:
            raise ValueError(
                f'{cls.__name__}: frozen_stages={frozen_stages} would freeze the PEFT parameters '
                'of the first stages and put them in eval mode; the Swin weights are frozen '
                'anyway. Use frozen_stages=-1 (or 0).')
        kwargs['init_cfg'] = cls.resolve_pretrained(kwargs.pop('pretrained', None),
                                                    kwargs.get('init_cfg'))
        return kwargs

    def load_pretrained(self, checkpoint: str, map_location: str = 'cpu') -> LoadReport:
        """Load a Swin checkpoint in any supported layout (see :func:`load_swin_checkpoint`)."""
        report = load_swin_checkpoint(self, checkpoint, map_location=map_location)  # type: ignore
        self.freeze_backbone()
        return report
