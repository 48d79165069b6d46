"""The key layouts of the reference codebases of SSF, FacT and KAdaptation, renamed to mmpeft's.

* ``dongzelian/SSF`` (timm 0.6.5 copies): Swin ``layers.i.blocks.j.ssf_{scale,shift}_{1,2}``
  (after ``norm1``/``norm2``), ``….attn.ssf_*_{1,2}`` (after ``qkv``/``proj``),
  ``….mlp.ssf_*_{1,2}`` (after ``fc1``/``fc2``), ``patch_embed.ssf_*_{1,2}`` (after the
  projection / its norm); ViT the same under ``blocks.i``. The top-level ``ssf_*_1`` follows
  the classification norm: unused.
* ``JieShibo/PETL-ViT`` FacT (timm ViT-B/16): files of the FacT tensors and the head only
  (``FacTu.weight``, ``FacTv.weight``, TK ``FacTc``/``FacTp``, TT
  ``blocks.i.attn.{q,k,v,proj}_FacTs``, ``blocks.i.mlp.fc{1,2}_FacTs``); the frozen ViT comes
  from its own file.
* ``JieShibo/PETL-ViT`` Convpass (timm ViT-B/16): files of the adapters and the head only
  (``blocks.i.adapter_{attn,mlp}.adapter_{down,conv,up}.{weight,bias}``); mmpeft keeps the
  same module names under ``layers.i``.
* ``DongshuoYin/CoLin`` KAdaptation (mmdet 2.x Swin layout, ``backbone.``-prefixed detector
  files): ``stages.i.blocks.j.attn.w_msa.{q,v}_proj_{l,r}_kadaption`` and ``….w_msa.b`` (here in
  the ``qkv`` module they act on), root ``phm_rule{q,v}_{l,r}`` (here ``peft_shared.0``).

Each table is applied to the keys it matches, before the family's own conversion (which does not
know these names).
"""
import re
from collections import OrderedDict
from typing import Tuple

from ..loading import StateDict
from .vit import compile_rules, rename_keys

_SSF = r'ssf_(scale|shift)'
#: SSF's timm Swin keys -> mmdet Swin (mmpeft) names
SSF_SWIN_RULES = compile_rules(
    (rf'^patch_embed\.{_SSF}_1$', r'patch_embed.projection.ssf_\1'),
    (rf'^patch_embed\.{_SSF}_2$', r'patch_embed.norm.ssf_\1'),
    (rf'^layers\.(\d+)\.blocks\.(\d+)\.{_SSF}_([12])$', r'stages.\1.blocks.\2.norm\4.ssf_\3'),
    (rf'^layers\.(\d+)\.blocks\.(\d+)\.attn\.{_SSF}_1$',
     r'stages.\1.blocks.\2.attn.w_msa.qkv.ssf_\3'),
    (rf'^layers\.(\d+)\.blocks\.(\d+)\.attn\.{_SSF}_2$',
     r'stages.\1.blocks.\2.attn.w_msa.proj.ssf_\3'),
    (rf'^layers\.(\d+)\.blocks\.(\d+)\.mlp\.{_SSF}_1$',
     r'stages.\1.blocks.\2.ffn.layers.0.0.ssf_\3'),
    (rf'^layers\.(\d+)\.blocks\.(\d+)\.mlp\.{_SSF}_2$',
     r'stages.\1.blocks.\2.ffn.layers.1.ssf_\3'),
)
#: SSF's timm ViT keys -> mmpretrain ViT (mmpeft) names
SSF_VIT_RULES = compile_rules(
    (rf'^patch_embed\.{_SSF}_1$', r'patch_embed.projection.ssf_\1'),
    (rf'^blocks\.(\d+)\.{_SSF}_([12])$', r'layers.\1.ln\3.ssf_\2'),
    (rf'^blocks\.(\d+)\.attn\.{_SSF}_1$', r'layers.\1.attn.qkv.ssf_\2'),
    (rf'^blocks\.(\d+)\.attn\.{_SSF}_2$', r'layers.\1.attn.proj.ssf_\2'),
    (rf'^blocks\.(\d+)\.mlp\.{_SSF}_1$', r'layers.\1.ffn.layers.0.0.ssf_\2'),
    (rf'^blocks\.(\d+)\.mlp\.{_SSF}_2$', r'layers.\1.ffn.layers.1.ssf_\2'),
)
#: PETL-ViT's FacT keys (timm ViT) -> mmpretrain ViT (mmpeft) names
FACT_VIT_RULES = compile_rules(
    (r'^(FacT[uv]\.weight|FacT[cp])$', r'peft_shared.0.\1'),
    (r'^blocks\.(\d+)\.attn\.([qkv])_FacTs\.', r'layers.\1.attn.qkv.\2_FacTs.'),
    (r'^blocks\.(\d+)\.attn\.proj_FacTs\.', r'layers.\1.attn.proj.proj_FacTs.'),
    (r'^blocks\.(\d+)\.mlp\.fc1_FacTs\.', r'layers.\1.ffn.layers.0.0.fc1_FacTs.'),
    (r'^blocks\.(\d+)\.mlp\.fc2_FacTs\.', r'layers.\1.ffn.layers.1.fc2_FacTs.'),
)
#: PETL-ViT's Convpass keys (timm ViT) -> mmpretrain ViT (mmpeft) names
CONVPASS_VIT_RULES = compile_rules(
    (r'^blocks\.(\d+)\.(adapter_(?:attn|mlp)\.adapter_(?:down|conv|up)\.(?:weight|bias))$',
     r'layers.\1.\2'), )
#: every method table of the timm ViT layout (SSF, FacT, Convpass)
VIT_METHOD_RULES = SSF_VIT_RULES + FACT_VIT_RULES + CONVPASS_VIT_RULES
#: the CoLin repository's KAdaptation keys (mmdet layout) -> mmpeft's
KADAPTATION_RULES = compile_rules(
    (r'^(stages\.\d+\.blocks\.\d+\.attn\.w_msa\.)([qv]_proj_[lr]_kadaption|b)$', r'\1qkv.\2'),
    (r'^(phm_rule[qv]_[lr])$', r'peft_shared.0.\1'),
)
_SSF_KEY = re.compile(r'(^|\.)ssf_(scale|shift)_[12]$')
#: the SSF after a classification norm (top level): no dense-prediction backbone has it
SSF_HEAD_KEY = re.compile(r'^ssf_(scale|shift)_\d$')


def split_ssf(state: StateDict) -> Tuple[StateDict, StateDict]:
    """``(SSF tensors of the backbone, the rest)`` of a reference-layout state dict (the
    classification norm's SSF stays in the rest, where it is reported as unused)."""
    ssf, rest = OrderedDict(), OrderedDict()
    for k, v in state.items():
        (ssf if _SSF_KEY.search(k) and not SSF_HEAD_KEY.match(k) else rest)[k] = v
    return ssf, rest


def has_kadaptation(state: StateDict) -> bool:
    """Whether a (mmdet-layout) Swin state dict holds the CoLin repository's KAdaptation."""
    return any(k.endswith('_kadaption') for k in state)


def kadaptation_to_mmpeft(state: StateDict) -> StateDict:
    """The CoLin repository's KAdaptation names -> mmpeft's (other keys unchanged)."""
    return rename_keys(state, KADAPTATION_RULES)
