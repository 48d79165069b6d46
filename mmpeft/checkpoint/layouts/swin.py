"""Pretrained-weight loading for mmdet-style Swin backbones (MonaSwinTransformer, VPTSwin, ...).

Accepted files (auto-detected, any of the wrappers ``state_dict`` / ``model`` / ``module`` and an
optional ``backbone.`` or ``module.`` prefix):

* ``microsoft``: official Swin checkpoints (``layers.i.blocks.j.attn.qkv``, ``mlp.fc1``,
  ``layers.i.downsample.reduction``, ``patch_embed.proj``), converted with mmdet's
  ``swin_converter`` (which also re-orders the PatchMerging channels for ``nn.Unfold``).
* ``mona-official``: the same layout plus the modules of a method trained with the official Mona
  repository (Mona, Adapter, AdaptFormer: ``layers.i.blocks.j.my_module_k.*`` ->
  ``stages.i.blocks.j.<the model's k-th module>.*``, e.g. ``mona1``/``mona2``; LoRA's
  ``attn.qkv.lora_A/B`` follow ``attn.qkv``).
* ``mmdet``: mmdet/mmseg Swin layout (``stages.i.blocks.j.attn.w_msa``, ``ffn.layers``,
  ``patch_embed.projection``), taken as is.
* ``ssf-timm``: the Microsoft layout plus SSF's scales and shifts (``dongzelian/SSF``'s timm Swin,
  see :mod:`.zoo`).
* ``colin-kadaptation``: the mmdet layout plus the CoLin repository's KAdaptation (mmdet 2.x
  detector files).
* ``mmpeft``: the mmdet layout plus PEFT modules (``mona1``, ``adapter1``, ``adapter``,
  ``lorand1``, ``qkv.lora_A`` ...: mmpeft's names, which are STAR-MMRotate's), taken as is;
  the official CoLin detector files (``colin1``/``colin2``, same names) are of this layout, their
  duplicated ``project2.upProjection.*`` tensors unused.

Keys outside the backbone (neck, heads) are ignored. Relative position indices and attention masks
are recomputed by the model and never loaded; output norms ``norm{i}`` are never loaded (they are
frozen at identity, as in the reference code). Relative position bias tables are resized bicubically
(as mmdet does) when the window size differs.
"""
import re
from collections import OrderedDict
from dataclasses import replace
from functools import partial
from typing import Dict, Mapping, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MMLogger

from ..loading import (
    CheckpointFormat,
    CheckpointMismatchError,
    LoadReport,
    StateDict,
    load_backbone_checkpoint,
    select_backbone_keys,
)
from .vit import rename_keys
from .zoo import SSF_SWIN_RULES, has_kadaptation, kadaptation_to_mmpeft, split_ssf

OFFICIAL_ADAPTER_NAMES = {'my_module_1': 'mona1', 'my_module_2': 'mona2'}
_OUT_NORM = re.compile(r'^norm\d+\.')
_DERIVED = re.compile(r'(^|\.)(relative_position_index|attn_mask)$')
_BACKBONE_KEYS = ('stages.', 'patch_embed.', 'absolute_pos_embed', 'peft_shared.')
_OFFICIAL_ADAPTER = re.compile(r'^(layers\.\d+\.blocks\.\d+\.)(my_module_\d+)(\..+)$')
_PEFT_KEY = re.compile(r'\.(mona[12]|adapter[12]?|lorand[12]|colin[12])\.|\.lora_[AB]$')


def is_not_pretrained(key: str) -> bool:
    """Keys no Swin checkpoint provides: the output norms (``norm0.weight`` ..., kept at
    identity) and the buffers the model recomputes (relative position index, masks)."""
    return bool(_OUT_NORM.match(key) or _DERIVED.search(key))


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
        if any('.my_module_' in k for k in state):
            return 'mona-official'
        return 'ssf-timm' if split_ssf(state)[0] else 'microsoft'
    if mm:
        if has_kadaptation(state):
            return 'colin-kadaptation'
        return 'mmpeft' if any(_PEFT_KEY.search(k) for k in state) else 'mmdet'
    return 'unknown'


def microsoft_to_mmdet(state: StateDict,
                       official_names: Optional[Mapping[str, str]] = None) -> StateDict:
    """Convert Microsoft-layout Swin keys to mmdet's.

    ``layers.i.blocks.j.my_module_k.*`` (the official Mona repository's name for the k-th module
    of a method: Mona, Adapter, AdaptFormer) become ``stages.i.blocks.j.<official_names[k]>.*``
    (default: Mona's ``mona1``/``mona2``); LoRA's ``attn.qkv.lora_A/B`` follow ``attn.qkv``.
    """
    names = OFFICIAL_ADAPTER_NAMES if official_names is None else official_names
    from mmdet.models.backbones.swin import swin_converter
    ssf, state = split_ssf(state)  # SSF's timm Swin (dongzelian/SSF)
    adapters, swin, passthrough = OrderedDict(), OrderedDict(), OrderedDict()
    for k, v in state.items():
        m = _OFFICIAL_ADAPTER.match(k)
        if k.startswith('head.'):  # swin_converter drops it silently; keep it to be reported
            passthrough[k] = v
        elif m:
            head, name, tail = m.groups()
            if name not in names:
                raise CheckpointMismatchError(
                    f'the checkpoint has official-Mona-repo modules {name} but the model has '
                    f'{len(names)} such module(s) per block '
                    f'({", ".join(names.values()) or "none"})')
            adapters['stages' + head[len('layers'):] + names[name] + tail] = v
        else:
            swin[k] = v
    converted = OrderedDict((k[len('backbone.'):], v) for k, v in swin_converter(swin).items())
    converted.update(adapters)
    converted.update(rename_keys(ssf, SSF_SWIN_RULES))
    converted.update(passthrough)
    return converted


def swin_to_model_layout(state: StateDict, official_names: Optional[Mapping[str, str]] = None
                         ) -> Tuple[StateDict, str]:
    """Bring a prefix-free Swin state dict into mmpeft's backbone layout.

    Returns ``(state, layout)`` (see :func:`detect_swin_layout`); derived buffers and output norms
    are removed. ``official_names``: see :func:`microsoft_to_mmdet`.
    """
    layout = detect_swin_layout(state)
    if layout in ('microsoft', 'mona-official', 'ssf-timm'):
        state = microsoft_to_mmdet(state, official_names)
    elif layout == 'colin-kadaptation':
        state = kadaptation_to_mmpeft(state)
    state = OrderedDict((k, v) for k, v in state.items() if not is_not_pretrained(k))
    return state, layout


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


def is_unused_swin_key(key: str) -> bool:
    """Keys of a Swin file the backbone never uses: the official CoLin code's second copy of
    each ``project1`` (``colinK.project2.upProjection.*``)."""
    return '.upProjection.' in key


SWIN_FORMAT = CheckpointFormat(
    family='Swin', convert=swin_to_model_layout, adapt=resize_relative_position_tables,
    unused=is_unused_swin_key, not_pretrained=is_not_pretrained)


def load_swin_checkpoint(model: nn.Module, filename: str,
                         official_names: Optional[Mapping[str, str]] = None,
                         **kwargs) -> LoadReport:
    """Load any supported Swin checkpoint into an mmdet-style Swin backbone, with checks.

    ``official_names``: see :func:`microsoft_to_mmdet`; other keyword arguments as
    :func:`~mmpeft.checkpoint.loading.load_backbone_checkpoint`.
    """
    fmt = replace(SWIN_FORMAT, convert=partial(swin_to_model_layout,
                                               official_names=official_names))
    return load_backbone_checkpoint(model, filename, fmt, **kwargs)


def to_mmpeft_checkpoint(state: StateDict, prefix: Optional[str] = None,
                         out_prefix: str = 'backbone.',
                         official_names: Optional[Mapping[str, str]] = None
                         ) -> Tuple[Dict[str, torch.Tensor], str]:
    """Offline conversion used by ``tools/model_converters/mona2mmpeft.py``.

    Keeps only backbone tensors (``stages.*``, ``patch_embed.*``, ``absolute_pos_embed``), so a
    classification ``norm``/``head`` and detector parts are dropped. ``official_names``: see
    :func:`microsoft_to_mmdet`.

    Returns ``({out_prefix + key: tensor}, layout)`` with keys in mmpeft's backbone layout.
    """
    converted, layout = swin_to_model_layout(select_backbone_keys(state, prefix)[0],
                                             official_names)
    if layout == 'unknown':
        raise CheckpointMismatchError('no Swin keys (layers.* or stages.*) found')
    return OrderedDict((out_prefix + k, v.contiguous()) for k, v in converted.items()
                       if k.startswith(_BACKBONE_KEYS)), layout
