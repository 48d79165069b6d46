"""Pretrained-weight loading for backbones built on mmseg's ``VisionTransformer`` (``HSTViT``).

Accepted files (any of the wrappers ``state_dict`` / ``model`` / ``module``, optional ``module.`` or
``backbone.`` prefix):

* ``timm``: timm / MAE / DeiT ViT checkpoints (``blocks.N.attn.qkv``, ``mlp.fc1``,
  ``patch_embed.proj``), e.g. ``vit_base_patch16_224.augreg_in21k`` saved with
  ``torch.save(model.state_dict())``, or MAE's ``mae_pretrain_vit_base.pth``;
* ``mmseg``: mmseg's layout (``layers.N.attn.attn.in_proj_weight``, ``ffn.layers``,
  ``patch_embed.projection``), i.e. files converted by mmseg's ``vit2mmseg.py`` and mmpeft's own
  checkpoints;
* ``hst-official``: a whole ``ViT_HSN`` of the official HST code (``AFeng-x/HST``): the timm ViT
  plus its side network (``m_embeddings.N``, ``T_Bridge_S``, ``m_proj_normN``, ``m_patch_embedS``,
  ``m_blockS.J`` with separate ``q``/``k``/``v``, ``m_normS``), renamed onto ``HSTViT``
  (:func:`hst_official_to_model`).

A side network in the file (official or mmpeft layout) loads with the ViT and must fit the model
exactly (widths, blocks per stage, meta tokens), otherwise the file is refused.

Google's ``.npz`` files are not read (mmseg's ViT has no npz loader): convert them to a timm
``.pth`` first. The classifier (``head``, ``pre_logits``, ``fc_norm``) and the final ``norm`` are
unused by the dense backbones and reported as ignored keys. A position embedding trained at another
resolution is resized bicubically to the model's grid.
"""
import re
from collections import OrderedDict
from dataclasses import replace
from functools import partial
from typing import Dict, List, Optional, Pattern, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

from ..loading import (
    CheckpointFormat,
    CheckpointMismatchError,
    LoadReport,
    StateDict,
    load_backbone_checkpoint,
    preview,
)


def compile_rules(*pairs: Tuple[str, str]) -> Tuple[Tuple[Pattern, str], ...]:
    """``(pattern, replacement)`` renaming rules for :func:`rename_keys`, compiled once."""
    return tuple((re.compile(p), r) for p, r in pairs)


_TIMM_RULES = compile_rules(
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm([12])\.', r'layers.\1.ln\2.'),
    (r'^blocks\.(\d+)\.attn\.qkv\.weight$', r'layers.\1.attn.attn.in_proj_weight'),
    (r'^blocks\.(\d+)\.attn\.qkv\.bias$', r'layers.\1.attn.attn.in_proj_bias'),
    (r'^blocks\.(\d+)\.attn\.proj\.', r'layers.\1.attn.attn.out_proj.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
)
_UNUSED = re.compile(r'^(head|pre_logits|fc_norm|norm|ln1)\.')
_HST_SIDE = re.compile(r'^(m_embeddings\.\d|T_Bridge_\d|m_patch_embed\d|m_block\d|m_norm\d'
                       r'|m_proj_norm\d)')


# official ViT_HSN side-network prefixes -> HSTViT's; {s} is the stage, counted from 0 (the
# official names count from 1). q/k/v, meta tokens and meta norms are handled apart.
_HST_RULES = compile_rules(
    (r'^m_patch_embed(1)\.conv\.0\.', 'side_stages.{s}.stem_conv.conv.'),
    (r'^m_patch_embed(1)\.conv\.1\.', 'side_stages.{s}.stem_conv.bn.'),
    (r'^m_patch_embed(1)\.conv\.3\.', 'side_stages.{s}.embed.projection.'),
    (r'^m_patch_embed(\d+)\.proj\.', 'side_stages.{s}.embed.projection.'),
    (r'^m_patch_embed(\d+)\.norm\.', 'side_stages.{s}.embed.norm.'),
    (r'^m_block(\d+)\.(\d+)\.norm([12])\.', r'side_stages.{s}.blocks.\2.ln\3.'),
    (r'^m_block(\d+)\.(\d+)\.attn\.proj\.', r'side_stages.{s}.blocks.\2.attn.attn.out_proj.'),
    (r'^m_block(\d+)\.(\d+)\.mlp\.fc1\.', r'side_stages.{s}.blocks.\2.ffn.layers.0.0.'),
    (r'^m_block(\d+)\.(\d+)\.mlp\.fc2\.', r'side_stages.{s}.blocks.\2.ffn.layers.1.'),
    (r'^m_norm(\d+)\.', 'side_stages.{s}.norm.'),
    (r'^T_Bridge_(\d+)\.', 'bridges.{s}.proj.'),
)
_HST_QKV = re.compile(r'^m_block(\d+)\.(\d+)\.attn\.([qkv])\.(weight|bias)$')
_HST_META = re.compile(r'^m_embeddings\.(\d+)$')
_HST_META_NORM = re.compile(r'^m_proj_norm(\d+)\.(.+)$')
_HST_BLOCK = re.compile(r'^m_block(\d+)\.(\d+)\.')


def detect_vit_layout(state: StateDict) -> str:
    """``'hst-official'`` (timm ViT + official HST side network: ``m_embeddings.*``,
    ``T_Bridge_*``, ``m_block*``, ...), ``'timm'`` (``blocks.*``), ``'mmseg'`` (``layers.*``) or
    ``'unknown'``."""
    timm = any(k.startswith('blocks.') for k in state)
    mmseg = any(re.match(r'layers\.\d+\.(ln1|attn\.attn)\.', k) for k in state)
    hst = any(_HST_SIDE.match(k) for k in state)
    if mmseg and (timm or hst):
        raise CheckpointMismatchError('state dict mixes the timm (blocks.*) or official HST '
                                      '(m_*, T_Bridge_*) and mmseg (layers.*) ViT layouts')
    return 'hst-official' if hst else 'timm' if timm else 'mmseg' if mmseg else 'unknown'


def rename_keys(state: StateDict, rules: Sequence[Tuple[Union[str, Pattern], str]]) -> StateDict:
    """``state`` with each key renamed by the first ``(pattern, replacement)`` rule that matches
    it (``re.sub``); keys no rule matches keep their names."""
    out = OrderedDict()
    for k, v in state.items():
        for pattern, repl in rules:
            if re.search(pattern, k):
                k = re.sub(pattern, repl, k)
                break
        out[k] = v
    return out


def timm_to_mmseg(state: StateDict) -> StateDict:
    """Rename timm ViT keys to mmseg's ``VisionTransformer`` names (q/k/v order is the same)."""
    return rename_keys(state, _TIMM_RULES)


def _official_depths(state: StateDict) -> List[int]:
    """Side blocks per stage of an official file (``m_blockS.J``), stages in order."""
    last: Dict[int, int] = {}
    for k in state:
        m = _HST_BLOCK.match(k)
        if m:
            last[int(m[1])] = max(last.get(int(m[1]), -1), int(m[2]))
    if sorted(last) != list(range(1, len(last) + 1)):
        raise CheckpointMismatchError(
            f'official HST checkpoint: side stages {sorted(last)} are not numbered 1..N')
    return [last[s] + 1 for s in sorted(last)]


def hst_official_to_model(state: StateDict) -> StateDict:
    """Rename an official HST (``ViT_HSN``) state dict onto ``HSTViT``'s names.

    The ViT goes through :func:`timm_to_mmseg`. Side network: ``m_embeddings.{i}`` ``(1, G, C)``
    are stacked into ``meta_tokens`` ``(L, G, C)``; ``T_Bridge_{s+1}`` -> ``bridges.{s}.proj``;
    ``m_proj_norm{i+1}`` -> ``bridges.{s}.meta_norms.{j}`` for ViT block i = the j-th block of
    group s, the groups being the file's own side blocks per stage (the official model pairs side
    block j of stage s with ViT block j of group s); separate ``attn.q/k/v`` -> packed
    ``attn.attn.in_proj_weight/bias`` (order q, k, v); stem ``Head`` (``conv.0`` / ``conv.1`` BN /
    ``conv.3`` / ``norm``), ``OverlapPatchEmbed``, ``M_Block`` and ``m_norm`` onto
    ``side_stages.{s}``. The classifier (``fc_norm``, ``head``) keeps its names (unused).

    Raises:
        CheckpointMismatchError: the side network is incomplete or inconsistent (a q/k/v
            projection missing, meta tokens not numbered 0..L-1 or of different shapes, a number
            of ``m_proj_norm`` other than the side blocks).
    """
    out: StateDict = OrderedDict()
    qkv: Dict[Tuple[int, str, str], Dict[str, torch.Tensor]] = {}
    metas: Dict[int, torch.Tensor] = {}
    norms: Dict[int, Dict[str, torch.Tensor]] = {}
    vit: StateDict = OrderedDict()
    for k, v in state.items():
        m = _HST_QKV.match(k)
        if m:
            qkv.setdefault((int(m[1]) - 1, m[2], m[4]), {})[m[3]] = v
            continue
        m = _HST_META.match(k)
        if m:
            metas[int(m[1])] = v
            continue
        m = _HST_META_NORM.match(k)
        if m:
            norms.setdefault(int(m[1]) - 1, {})[m[2]] = v
            continue
        for pattern, template in _HST_RULES:
            m = pattern.match(k)
            if m:
                prefix = m.expand(template.replace('{s}', str(int(m[1]) - 1)))
                out[prefix + k[m.end():]] = v
                break
        else:
            vit[k] = v
    out.update(timm_to_mmseg(vit))

    for (s, j, kind), parts in sorted(qkv.items()):
        lacking = [p for p in 'qkv' if p not in parts]
        if lacking:
            raise CheckpointMismatchError(
                f'official HST checkpoint: m_block{s + 1}.{j}.attn lacks the {kind} of '
                f'{", ".join(lacking)}')
        name = 'in_proj_weight' if kind == 'weight' else 'in_proj_bias'
        out[f'side_stages.{s}.blocks.{j}.attn.attn.{name}'] = torch.cat(
            [parts['q'], parts['k'], parts['v']], dim=0)

    if metas:
        shapes = {tuple(t.shape) for t in metas.values()}
        if sorted(metas) != list(range(len(metas))) or len(shapes) != 1:
            raise CheckpointMismatchError(
                f'official HST checkpoint: m_embeddings must be numbered 0..L-1 with one shape '
                f'(1, G, C); got indices {sorted(metas)[:8]} and shapes {sorted(shapes)}')
        out['meta_tokens'] = torch.cat([metas[i] for i in range(len(metas))], dim=0)

    if norms:
        depths = _official_depths(state)
        if sorted(norms) != list(range(sum(depths))):
            raise CheckpointMismatchError(
                f'official HST checkpoint: {len(norms)} m_proj_norm (one per ViT block) for side '
                f'stages of {depths} blocks; HSTViT pairs side block j of stage s with ViT block '
                f'j of group s, so they must match one to one')
        i = 0
        for s, depth in enumerate(depths):
            for j in range(depth):
                for name, v in norms[i].items():
                    out[f'bridges.{s}.meta_norms.{j}.{name}'] = v
                i += 1
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


def _side_layout(shapes: Dict[str, Tuple[int, ...]]) -> str:
    """``widths [...], blocks per stage [...]`` of an HST side network, from its bridges."""
    widths, depths = [], []
    for s in range(4):
        proj = shapes.get(f'bridges.{s}.proj.weight')
        widths.append(proj[0] if proj else None)
        depths.append(sum(1 for k in shapes
                          if re.match(rf'bridges\.{s}\.meta_norms\.\d+\.weight$', k)))
    meta = shapes.get('meta_tokens')
    return (f'widths {widths}, blocks per stage {depths}'
            + (f', meta tokens {list(meta)}' if meta else ''))


def check_side_network(state: StateDict, model: nn.Module, source: str = 'checkpoint') -> None:
    """Refuse a file whose side network (the model's ``NEW_PREFIXES`` keys) does not fit.

    A file without them (a plain ViT) passes; one with them must provide every tensor of the
    model's side network with the model's shape, and nothing else under those prefixes.

    Raises:
        CheckpointMismatchError: naming the checkpoint's and the model's side layout.
    """
    prefixes = tuple(getattr(model, 'NEW_PREFIXES', ()))
    side = [k for k in state if prefixes and k.startswith(prefixes)]
    if not side:
        return
    own = {k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith(prefixes)}
    wrong = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {own[k]}' for k in side
             if k in own and tuple(state[k].shape) != own[k]]
    extra = [k for k in side if k not in own]
    lacking = [k for k in own if k not in state]
    if not (wrong or extra or lacking):
        return
    problems = [f'{len(ks)} {what}: {preview(ks, 4)}' for ks, what in (
        (wrong, 'with another shape'), (lacking, 'missing'), (extra, 'not in the model')) if ks]
    describe = getattr(model, 'describe', lambda: type(model).__name__)()
    raise CheckpointMismatchError(
        f'{source} carries a side network that does not fit {describe}: checkpoint '
        f'{_side_layout({k: tuple(state[k].shape) for k in side})}, model {_side_layout(own)}; '
        f'{"; ".join(problems)}. Build the model with the side network of the checkpoint '
        '(side_arch, side_depths, num_meta_tokens), or load a file without it (the ViT alone)')


def adapt_vit_state(state: StateDict, model: nn.Module, logger: MMLogger,
                    source: str = 'checkpoint') -> None:
    """Resize the position embedding (:func:`resize_pos_embed`) and check a side network in the
    file against the model (:func:`check_side_network`)."""
    resize_pos_embed(state, model, logger)
    check_side_network(state, model, source)


def vit_to_model_layout(state: StateDict) -> Tuple[StateDict, str]:
    """Bring a prefix-free timm, mmseg or official HST state dict into mmseg's / HSTViT's layout.

    Returns ``(state, layout)`` (see :func:`detect_vit_layout`).
    """
    layout = detect_vit_layout(state)
    if layout == 'hst-official':
        state = hst_official_to_model(state)
    elif layout == 'timm':
        state = timm_to_mmseg(state)
    return state, layout


VIT_FORMAT = CheckpointFormat(
    family='ViT', convert=vit_to_model_layout, adapt=adapt_vit_state,
    unused=lambda k: bool(_UNUSED.match(k)))


def load_vit_checkpoint(model: nn.Module, filename: str, **kwargs) -> LoadReport:
    """Load a timm, mmseg or official HST checkpoint into an mmseg-``VisionTransformer``-based
    backbone.

    Keyword arguments as :func:`~mmpeft.checkpoint.loading.load_backbone_checkpoint`.

    Raises:
        CheckpointMismatchError: also for Google ``.npz`` files (convert them first) and for a
            side network that does not fit the model.
    """
    if str(filename).endswith('.npz'):
        raise CheckpointMismatchError(
            f'{filename}: Google .npz ViT checkpoints are not read directly; convert it to a timm '
            '.pth first (timm.create_model(name, pretrained=True, pretrained_cfg_overlay='
            'dict(file=NPZ)) then torch.save(model.state_dict(), PTH))')
    fmt = replace(VIT_FORMAT, adapt=partial(adapt_vit_state, source=str(filename)))
    return load_backbone_checkpoint(model, filename, fmt, **kwargs)
