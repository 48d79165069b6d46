"""Pretrained-weight loading for the foundation ViTs on mmpretrain's backbones (DINOv2, CLIP, SAM,
EVA-02).

The backbones (:mod:`mmpeft.models.backbones.peft_vit`, :mod:`~mmpeft.models.backbones.peft_eva02`)
keep mmpretrain's parameter names, so a file is brought into that layout (auto-detected; wrappers
``state_dict`` / ``model`` / ``module`` and a ``module.`` or ``backbone.`` prefix are removed
first):

* ``dinov2``: the DINOv2 hub files (``dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth``):
  ``blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}``,
  ``cls_token``, ``pos_embed``, ``register_tokens``, ``norm``; ``mask_token`` is unused;
* ``timm``: a plain timm / MAE ViT (the same names without layer scale; ``head`` unused);
* ``openai-clip``: OpenAI's CLIP state dict (``visual.conv1``, ``visual.class_embedding``,
  ``visual.transformer.resblocks.N.*``, ``visual.ln_post``; the text tower and ``visual.proj``
  unused). OpenAI's ``.pt`` files are TorchScript archives: convert one once with
  ``tools/model_converters/clip2mmpeft.py``;
* ``mmpretrain-clip``: mmpretrain's converted CLIP (``visual.patch_embed.projection``, ...);
* ``sam``: a Segment Anything checkpoint (``image_encoder.blocks.N.*``, ``image_encoder.neck.*``;
  the prompt encoder and mask decoder unused);
* ``mmpretrain``: mmpretrain's own names (``layers.N.ln1``, ...): its converted files and mmpeft's
  checkpoints;
* ``eva02``: EVA-02's files (``eva02_{Ti,S,B,L}_pt_*_p14.pt``, ``asuka``'s names): ``blocks.N.*``
  with ``attn.q_bias`` / ``attn.v_bias`` (k has no bias: zeros in the k rows of ``attn.qkv.bias``)
  and either ``attn.q_proj/k_proj/v_proj`` (B, L; concatenated into ``attn.qkv``) or a packed
  ``attn.qkv`` (Ti, S); the SwiGLU as ``mlp.w1/w2`` (concatenated into ``mlp.w12``) with its sub-LN
  ``mlp.ffn_ln`` (-> ``mlp.norm``) and ``mlp.w3`` (B, L), or ``mlp.w12/w3`` (Ti, S); ``norm`` ->
  ``ln1``. The masked-modelling head (``lm_head``, ``mask_token``) and the rotary tables
  (``freqs_cos`` / ``freqs_sin``, recomputed by the backbone for every grid) are unused;
* ``mmpretrain-eva02``: mmpretrain's converted EVA-02 (``layers.N.norm1``, ``mlp.w12``, ...) and
  mmpeft's EVA-02 checkpoints;
* ``dinov3``: DINOv3's released ViTs (``dinov3_vit*16*_pretrain_*.pth``: ``cls_token``,
  ``storage_tokens``, ``rope_embed.periods``, ``blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma,
  norm2, mlp.fc1/fc2 or mlp.w1/w2/w3, ls2.gamma}``, ``norm``), which the DINOv3 backbone keeps
  under their own names, and mmpeft's DINOv3 checkpoints. The q/k/v bias is stored with a mask
  (``attn.qkv.bias_mask``, 0 on k): it is folded in (``bias * bias_mask``). ``mask_token`` is
  unused (and, for the backbone, ``local_cls_norm``).

A backbone names the layouts it loads (:data:`VIT_LAYOUTS`, :data:`EVA02_LAYOUTS`,
:data:`DINOV3_LAYOUTS`); a file of another one is refused by name.

The backbone adapts the position table (grid size, class-token row) and names what else it does
not use; :func:`load_foundation_checkpoint` then applies the checks of
:func:`~mmpeft.checkpoint.loading.load_checked_state_dict`.
"""
import re
from collections import OrderedDict, defaultdict
from dataclasses import replace
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch

from mmpeft.compat import CorruptCheckpointError

from ..loading import (
    CheckpointFormat,
    CheckpointMismatchError,
    LoadReport,
    StateDict,
    load_backbone_checkpoint,
    strip_prefix,
)
from .vit import compile_rules, rename_keys
from .zoo import VIT_METHOD_RULES

CLIP_CONVERTER = 'tools/model_converters/clip2mmpeft.py'


# timm-style names (DINOv2, timm, SAM) -> mmpretrain's
_BLOCK_RULES = compile_rules(
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm([12])\.', r'layers.\1.ln\2.'),
    (r'^blocks\.(\d+)\.ls1\.gamma$', r'layers.\1.attn.gamma1.weight'),
    (r'^blocks\.(\d+)\.ls2\.gamma$', r'layers.\1.ffn.gamma2.weight'),
    (r'^blocks\.(\d+)\.mlp\.(?:fc1|lin1)\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.(?:fc2|lin2)\.', r'layers.\1.ffn.layers.1.'),
    (r'^blocks\.(\d+)\.mlp\.(w12|w3)\.', r'layers.\1.ffn.\2.'),
    (r'^blocks\.(\d+)\.attn\.', r'layers.\1.attn.'),
    (r'^neck\.(\d+)\.', r'channel_reduction.\1.'),
    (r'^norm\.', 'ln1.'),
)
# OpenAI CLIP's visual tower (``visual.`` removed) -> mmpretrain's
_CLIP_RULES = compile_rules(
    (r'^conv1\.weight$', 'patch_embed.projection.weight'),
    (r'^ln_pre\.', 'pre_norm.'),
    (r'^transformer\.resblocks\.(\d+)\.ln_([12])\.', r'layers.\1.ln\2.'),
    (r'^transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)$', r'layers.\1.attn.qkv.\2'),
    (r'^transformer\.resblocks\.(\d+)\.attn\.out_proj\.', r'layers.\1.attn.proj.'),
    (r'^transformer\.resblocks\.(\d+)\.mlp\.c_fc\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^transformer\.resblocks\.(\d+)\.mlp\.c_proj\.', r'layers.\1.ffn.layers.1.'),
    (r'^ln_post\.', 'ln1.'),
    (r'^proj$', 'visual_proj.proj'),
)
# EVA-02's names (``blocks.N.`` already ``layers.N.``) -> mmpretrain's ViTEVA02
_EVA02_RULES = compile_rules(
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.mlp\.ffn_ln\.', r'layers.\1.mlp.norm.'),
    (r'^blocks\.(\d+)\.', r'layers.\1.'),
    (r'^norm\.', 'ln1.'),
)
# the parts of EVA-02's attention and SwiGLU that mmpretrain packs into one Linear
_EVA02_PART = re.compile(r'^blocks\.(\d+)\.(attn\.(?:[qkv]_proj\.weight|[qv]_bias)'
                         r'|mlp\.w[12]\.(?:weight|bias))$')
#: keys (after conversion) that no backbone uses: heads, projections, the CLIP text tower (put
#: under ``text.``), SAM's prompt encoder and mask decoder, DINOv2's and EVA-02's mask token,
#: EVA-02's masked-modelling head and rotary tables
UNUSED = re.compile(r'^(text|visual_proj|head|fc_norm|pre_logits|mask_token|prompt_encoder'
                    r'|mask_decoder|lm_head)(\.|$)|(^|\.)freqs_(cos|sin)$')
#: the layouts of the backbones on mmpretrain's ``VisionTransformer`` and ``ViTSAM``
VIT_LAYOUTS = ('dinov2', 'timm', 'openai-clip', 'mmpretrain-clip', 'sam', 'mmpretrain')
#: the layouts of the EVA-02 backbone
EVA02_LAYOUTS = ('eva02', 'mmpretrain-eva02')
#: the layouts of the DINOv3 backbone
DINOV3_LAYOUTS = ('dinov3', )
_LAYOUT_BACKBONE = dict(dict.fromkeys(VIT_LAYOUTS, 'PEFTViT'), sam='PEFTSAMViT',
                        **dict.fromkeys(EVA02_LAYOUTS, 'PEFTEVA02'), dinov3='PEFTDINOv3')
_BIAS_MASK = re.compile(r'^(blocks\.\d+\.attn\.qkv)\.bias_mask$')


def detect_foundation_layout(state: StateDict) -> str:
    """The layout of a prefix-free state dict (see the module docstring), or ``'unknown'``."""
    if 'storage_tokens' in state or 'rope_embed.periods' in state:
        return 'dinov3'  # before DINOv2: same block names, a mask token too
    if any(k.startswith('image_encoder.') for k in state):
        return 'sam'
    if 'visual.conv1.weight' in state or 'visual.class_embedding' in state:
        return 'openai-clip'
    if any(k.startswith('visual.layers.') for k in state):
        return 'mmpretrain-clip'
    if any(re.match(r'blocks\.\d+\.', k) for k in state):
        if any(re.match(r'blocks\.\d+\.(attn\.(q_bias|q_proj\.)|mlp\.(w1|ffn_ln)\.)', k)
               for k in state):
            return 'eva02'  # before DINOv2: EVA-02 files have a mask token too
        if any(re.match(r'blocks\.\d+\.mlp\.lin1\.', k) for k in state):
            return 'sam'
        if any(re.match(r'blocks\.\d+\.ls1\.', k) for k in state) or 'mask_token' in state:
            return 'dinov2'
        return 'timm'
    if any(re.match(r'layers\.\d+\.ln1\.', k) for k in state):
        return 'mmpretrain'
    if any(re.match(r'layers\.\d+\.(norm1\.|mlp\.w12\.)', k) for k in state):
        return 'mmpretrain-eva02'
    return 'unknown'


def _clip_vision(state: StateDict, visual: StateDict) -> StateDict:
    """The visual tower's keys as given, everything else (the text tower) under ``text.``."""
    out = OrderedDict(visual)
    out.update((f'text.{k}', v) for k, v in state.items() if not k.startswith('visual.'))
    return out


def openai_clip_to_mmpretrain(state: StateDict) -> StateDict:
    """OpenAI CLIP names onto mmpretrain's ``VisionTransformer`` (``class_embedding`` (C) ->
    ``cls_token`` (1, 1, C), ``positional_embedding`` (L, C) -> ``pos_embed`` (1, L, C))."""
    visual = rename_keys(strip_prefix(state, 'visual.'), _CLIP_RULES)
    if 'class_embedding' in visual:
        visual['cls_token'] = visual.pop('class_embedding').reshape(1, 1, -1)
    if 'positional_embedding' in visual:
        visual['pos_embed'] = visual.pop('positional_embedding').unsqueeze(0)
    return _clip_vision(state, visual)


def _packed(parts: Dict[str, torch.Tensor], names: Sequence[str], layer: str) -> torch.Tensor:
    missing = [n for n in names if n not in parts]
    if missing:
        raise CheckpointMismatchError(
            f'EVA-02 checkpoint: blocks.{layer} has {", ".join(sorted(parts))} but not '
            f'{", ".join(missing)} (an incomplete file?)')
    return torch.cat([parts[n] for n in names])


def eva02_to_mmpretrain(state: StateDict) -> StateDict:
    """EVA-02's names onto mmpretrain's ``ViTEVA02``: q/k/v projections and SwiGLU halves packed
    (``cat(q, k, v)``, ``cat(w1, w2)``), the bias ``cat(q_bias, 0, v_bias)``.

    Raises:
        CheckpointMismatchError: a block has some of the parts of a packed Linear but not all.
    """
    parts: Dict[str, Dict[str, torch.Tensor]] = defaultdict(dict)
    out = OrderedDict()
    for key, value in state.items():
        m = _EVA02_PART.match(key)
        if m:
            parts[m.group(1)][m.group(2)] = value
        else:
            out.update(rename_keys({key: value}, _EVA02_RULES))
    for i, p in parts.items():
        if any(n.endswith('_proj.weight') for n in p):
            out[f'layers.{i}.attn.qkv.weight'] = _packed(
                p, [f'attn.{s}_proj.weight' for s in 'qkv'], i)
        if any(n.endswith('_bias') for n in p):
            q_bias = _packed(p, ['attn.q_bias'], i)
            p['attn.k_bias'] = torch.zeros_like(q_bias)
            out[f'layers.{i}.attn.qkv.bias'] = _packed(p, ['attn.q_bias', 'attn.k_bias',
                                                           'attn.v_bias'], i)
        for kind in ('weight', 'bias'):
            if any(n.startswith('mlp.') and n.endswith(kind) for n in p):
                out[f'layers.{i}.mlp.w12.{kind}'] = _packed(
                    p, [f'mlp.w1.{kind}', f'mlp.w2.{kind}'], i)
    return out


def dinov3_fold_bias_mask(state: StateDict) -> StateDict:
    """DINOv3's masked q/k/v bias folded in: ``attn.qkv.bias`` becomes ``bias * bias_mask``
    (the effective bias of the official ``LinearKMaskedBias``), the masks are dropped.

    Raises:
        CheckpointMismatchError: a mask without its bias, of another shape, or not finite.
    """
    out = OrderedDict((k, v) for k, v in state.items() if not _BIAS_MASK.match(k))
    for key, mask in state.items():
        m = _BIAS_MASK.match(key)
        if not m:
            continue
        bias = state.get(f'{m.group(1)}.bias')
        if not torch.isfinite(mask).all():
            raise CheckpointMismatchError(f'DINOv3 checkpoint: {key} is not finite (an '
                                          'uninitialised mask?)')
        if bias is None or bias.shape != mask.shape:
            raise CheckpointMismatchError(
                f'DINOv3 checkpoint: {key} {tuple(mask.shape)} has no q/k/v bias of its shape '
                f'({m.group(1)}.bias: {None if bias is None else tuple(bias.shape)}): an '
                'incomplete file?')
        out[f'{m.group(1)}.bias'] = bias * mask.to(bias.dtype)
    return out


def foundation_to_mmpretrain(state: StateDict) -> Tuple[StateDict, str]:
    """Bring a prefix-free state dict into mmpretrain's layout (DINOv3's: its own, the bias
    mask folded in). Returns ``(state, layout)``."""
    layout = detect_foundation_layout(state)
    if layout == 'openai-clip':
        state = openai_clip_to_mmpretrain(state)
    elif layout == 'mmpretrain-clip':
        state = _clip_vision(state, strip_prefix(state, 'visual.'))
    elif layout == 'eva02':
        state = eva02_to_mmpretrain(state)
    elif layout == 'dinov3':
        state = dinov3_fold_bias_mask(state)
    elif layout in ('sam', 'dinov2', 'timm'):
        encoder = strip_prefix(state, 'image_encoder.')  # SAM: the rest is unused
        rest = [(k, v) for k, v in state.items() if not k.startswith('image_encoder.')]
        state = rename_keys(encoder or state, VIT_METHOD_RULES + _BLOCK_RULES)
        if encoder:
            state.update(rest)
    return state, layout


FOUNDATION_FORMAT = CheckpointFormat(
    family='foundation ViT', convert=foundation_to_mmpretrain,
    unused=lambda k: bool(UNUSED.search(k)))


def _accepted(layouts: Sequence[str], filename: str, model: str
              ) -> Callable[[StateDict], Tuple[StateDict, str]]:
    """:func:`foundation_to_mmpretrain` that refuses a layout outside ``layouts`` by name."""
    def convert(state: StateDict) -> Tuple[StateDict, str]:
        state, layout = foundation_to_mmpretrain(state)
        if layout != 'unknown' and layout not in layouts:
            raise CheckpointMismatchError(
                f'{filename} is a "{layout}" checkpoint, which {model} does not load (it loads '
                f'{", ".join(layouts)}): a file for {_LAYOUT_BACKBONE[layout]}?')
        return state, layout
    return convert


def load_foundation_checkpoint(model: torch.nn.Module, filename: str, *,
                               adapt: Optional[Callable] = None,
                               unused: Optional[Callable[[str], bool]] = None,
                               layouts: Optional[Sequence[str]] = None,
                               **kwargs) -> LoadReport:
    """Load a DINOv2, timm, CLIP, SAM, EVA-02, DINOv3 or mmpretrain-layout file into a
    foundation-ViT backbone.

    Args:
        adapt: ``adapt(state, model, logger)``, the backbone's own resizing of the converted
            state (position tables) before the checks.
        unused: further keys this backbone does not use (dropped, logged), beside
            :data:`UNUSED`.
        layouts: the layouts the backbone loads (None: any).
        **kwargs: as :func:`~mmpeft.checkpoint.loading.load_backbone_checkpoint`.

    Raises:
        CheckpointMismatchError: also for a file of a layout outside ``layouts``, and for a
            TorchScript archive (OpenAI's CLIP ``.pt``), naming the converter.
    """
    fmt = FOUNDATION_FORMAT
    if unused is not None:
        fmt = replace(fmt, unused=lambda k: bool(UNUSED.search(k)) or unused(k))
    if adapt is not None:
        fmt = replace(fmt, adapt=adapt)
    if layouts is not None:
        fmt = replace(fmt, convert=_accepted(tuple(layouts), filename, type(model).__name__))
    try:
        return load_backbone_checkpoint(model, filename, fmt, **kwargs)
    except CorruptCheckpointError as err:
        if 'TorchScript' not in str(err):
            raise
        raise CheckpointMismatchError(
            f'{filename} is a TorchScript archive (as OpenAI ships its CLIP models), which is '
            f'not read without running its code. If you trust the file, convert it once: python '
            f'{CLIP_CONVERTER} {filename} OUT.pth, and load OUT.pth') from err
