"""Pretrained-weight loading for backbones built on mmseg's ``VisionTransformer`` (``HSTViT``).

Accepted files (any of the wrappers ``state_dict`` / ``model`` / ``module``, optional ``module.`` or
``backbone.`` prefix):

* ``timm``: timm / MAE / DeiT ViT checkpoints (``blocks.N.attn.qkv``, ``mlp.fc1``,
  ``patch_embed.proj``), e.g. ``vit_base_patch16_224.augreg_in21k`` saved with
  ``torch.save(model.state_dict())``, or MAE's ``mae_pretrain_vit_base.pth``;
* ``mmseg``: mmseg's layout (``layers.N.attn.attn.in_proj_weight``, ``ffn.layers``,
  ``patch_embed.projection``), i.e. files converted by mmseg's ``vit2mmseg.py`` and mmpeft's own
  checkpoints.

Google's ``.npz`` files are not read (mmseg's ViT has no npz loader): convert them to a timm
``.pth`` first. The classifier (``head``, ``pre_logits``, ``fc_norm``) and the final ``norm`` are
unused by the dense backbones and reported as ignored keys. A position embedding trained at another
resolution is resized bicubically to the model's grid.
"""
import re
from collections import OrderedDict
from typing import Optional, Tuple

import torch.nn as nn
from mmengine.logging import MMLogger

from .checkpoint import (
    CheckpointFormat,
    CheckpointMismatchError,
    LoadReport,
    StateDict,
    load_backbone_checkpoint,
)

_TIMM_RULES = (
    (re.compile(r'^patch_embed\.proj\.'), 'patch_embed.projection.'),
    (re.compile(r'^blocks\.(\d+)\.norm([12])\.'), r'layers.\1.ln\2.'),
    (re.compile(r'^blocks\.(\d+)\.attn\.qkv\.weight$'), r'layers.\1.attn.attn.in_proj_weight'),
    (re.compile(r'^blocks\.(\d+)\.attn\.qkv\.bias$'), r'layers.\1.attn.attn.in_proj_bias'),
    (re.compile(r'^blocks\.(\d+)\.attn\.proj\.'), r'layers.\1.attn.attn.out_proj.'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc1\.'), r'layers.\1.ffn.layers.0.0.'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc2\.'), r'layers.\1.ffn.layers.1.'),
)
_UNUSED = re.compile(r'^(head|pre_logits|fc_norm|norm|ln1)\.')


def detect_vit_layout(state: StateDict) -> str:
    """``'timm'`` (``blocks.*``), ``'mmseg'`` (``layers.*``) or ``'unknown'``."""
    timm = any(k.startswith('blocks.') for k in state)
    mmseg = any(re.match(r'layers\.\d+\.(ln1|attn\.attn)\.', k) for k in state)
    if timm and mmseg:
        raise CheckpointMismatchError('state dict mixes the timm (blocks.*) and mmseg (layers.*) '
                                      'ViT layouts')
    return 'timm' if timm else 'mmseg' if mmseg else 'unknown'


def timm_to_mmseg(state: StateDict) -> StateDict:
    """Rename timm ViT keys to mmseg's ``VisionTransformer`` names (q/k/v order is the same)."""
    out = OrderedDict()
    for k, v in state.items():
        for pattern, repl in _TIMM_RULES:
            if pattern.search(k):
                k = pattern.sub(repl, k)
                break
        out[k] = v
    return out


def resize_pos_embed(state: StateDict, model: nn.Module,
                     logger: Optional[MMLogger] = None) -> bool:
    """Bicubically resize ``state['pos_embed']`` (CLS + square grid) to ``model.pos_embed``."""
    src, dst = state.get('pos_embed'), getattr(model, 'pos_embed', None)
    if src is None or dst is None or src.shape == dst.shape:
        return False
    n_src, n_dst = src.shape[1] - 1, dst.shape[1] - 1
    g_src, g_dst = int(round(n_src**0.5)), int(round(n_dst**0.5))
    if src.shape[2] != dst.shape[2] or g_src**2 != n_src or g_dst**2 != n_dst:
        return False  # left for the shape check to reject with a clear message
    from mmseg.models.backbones.vit import VisionTransformer
    state['pos_embed'] = VisionTransformer.resize_pos_embed(
        src.float(), (g_dst, g_dst), (g_src, g_src), 'bicubic').to(src.dtype)
    (logger or MMLogger.get_current_instance()).info(
        f'resized pos_embed from a {g_src}x{g_src} to a {g_dst}x{g_dst} grid')
    return True


def vit_to_model_layout(state: StateDict) -> Tuple[StateDict, str]:
    """Bring a prefix-free timm or mmseg ViT state dict into mmseg's layout.

    Returns ``(state, layout)`` (see :func:`detect_vit_layout`).
    """
    layout = detect_vit_layout(state)
    if layout == 'timm':
        state = timm_to_mmseg(state)
    return state, layout


VIT_FORMAT = CheckpointFormat(
    family='ViT', convert=vit_to_model_layout, adapt=resize_pos_embed,
    unused=lambda k: bool(_UNUSED.match(k)))


def load_vit_checkpoint(model: nn.Module, filename: str, **kwargs) -> LoadReport:
    """Load a timm or mmseg ViT checkpoint into an mmseg-``VisionTransformer``-based backbone.

    Keyword arguments as :func:`~mmpeft.models.utils.checkpoint.load_backbone_checkpoint`.

    Raises:
        CheckpointMismatchError: also for Google ``.npz`` files (convert them first).
    """
    if str(filename).endswith('.npz'):
        raise CheckpointMismatchError(
            f'{filename}: Google .npz ViT checkpoints are not read directly; convert it to a timm '
            '.pth first (timm.create_model(name, pretrained=True, pretrained_cfg_overlay='
            'dict(file=NPZ)) then torch.save(model.state_dict(), PTH))')
    return load_backbone_checkpoint(model, filename, VIT_FORMAT, **kwargs)
