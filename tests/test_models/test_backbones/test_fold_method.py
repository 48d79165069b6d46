"""The merge protocol: ``PEFTModule.mergeable`` / ``fold_into``, ``fold_method(blocks)`` and the
backbones' ``fold_peft`` / ``upstream_config``: a folded LoRA backbone is the upstream backbone
(strict state-dict load) with the same outputs; non-mergeable methods are refused untouched."""
import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import SwinTransformer
from mmengine.registry import MODELS

import mmpeft  # noqa: F401
from mmpeft.models.backbones import (
    LoRASwinTransformer,
    MonaSwinTransformer,
    PEFTSwinTransformer,
    PEFTViT,
)
from mmpeft.models.backbones.peft_block import fold_method
from mmpeft.models.peft import LoRA, Mona, PEFTModule

from e2e_utils import TINY_DINOV2, TINY_PEFT_VIT, TINY_SWIN, random_weights


def outputs(model: nn.Module, size: int = 64):
    torch.manual_seed(0)
    with torch.no_grad():
        return model(torch.randn(2, 3, size, size + 16))


def assert_close(a, b, atol=1e-5):
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x.shape == y.shape and (x - y).abs().max().item() <= atol


def test_the_interface():
    assert LoRA.mergeable and not Mona.mergeable and not PEFTModule.mergeable
    with pytest.raises(NotImplementedError, match='Mona cannot be folded'):
        Mona(16).fold_into(nn.Identity(), 'attn_residual')


def test_folded_lora_swin_is_mmdet_swin():
    cfg = dict(TINY_SWIN, drop_path_rate=0.0, out_indices=(0, 1, 2, 3))
    backbone = random_weights(LoRASwinTransformer(**cfg, lora_cfg=dict(rank=4)))
    before = outputs(backbone)
    assert backbone.fold_peft() == sum(TINY_SWIN['depths'])
    blocks = backbone.peft_blocks()
    assert all(type(b.qkv) is nn.Linear and not b.peft_modules() for b in blocks)
    assert not any(isinstance(m, PEFTModule) for m in backbone.modules())
    assert_close(outputs(backbone), before)
    upstream_cfg = LoRASwinTransformer.upstream_config(
        dict(type='LoRASwinTransformer', lora_cfg=dict(rank=4), **cfg))
    assert upstream_cfg == dict(type='mmdet.SwinTransformer', **cfg)
    upstream = MODELS.build(upstream_cfg)
    assert type(upstream) is SwinTransformer
    upstream.load_state_dict(backbone.state_dict(), strict=True)
    upstream.eval()  # (mmdet's Swin.train returns None)
    assert_close(outputs(upstream), before)


def test_folded_lora_vit_is_mmpretrain_vit():
    cfg = dict(TINY_PEFT_VIT, drop_path_rate=0.0)
    backbone = random_weights(PEFTViT(**cfg, method=dict(type='LoRA', rank=4)))
    before = outputs(backbone)
    assert backbone.fold_peft() == 4
    assert_close(outputs(backbone), before)
    upstream = MODELS.build(PEFTViT.upstream_config(
        dict(type='PEFTViT', method=dict(type='LoRA', rank=4), **cfg)))
    assert type(upstream).__name__ == 'VisionTransformer'
    upstream.load_state_dict(backbone.state_dict(), strict=True)
    upstream.eval()  # (mmdet's Swin.train returns None)
    assert_close(outputs(upstream), before)


ZOO = [dict(type='SSF'), dict(type='FacT', mode='tt', rank=4), dict(type='FacT', mode='tk', rank=4),
       dict(type='KAdaptation', n=16)]


@pytest.mark.parametrize('method', ZOO, ids=lambda m: '-'.join(map(str, m.values())))
@pytest.mark.parametrize('family', ['swin', 'vit'])
def test_every_mergeable_method_folds_into_the_upstream_backbone(family, method):
    """Wrapping sites, patch-embedding sites and shared parameters (FacT's U/V, KAdaptation's
    rules) all fold: the upstream backbone loads the folded state dict strictly, same outputs."""
    cls, cfg = ((PEFTSwinTransformer, dict(TINY_SWIN, out_indices=(0, 1, 2, 3))) if family == 'swin'
                else (PEFTViT, TINY_PEFT_VIT))
    cfg = dict(cfg, drop_path_rate=0.0)
    backbone = random_weights(cls(**cfg, method=method))
    before = outputs(backbone)
    assert backbone.fold_peft() > 0
    assert not any(isinstance(m, PEFTModule) for m in backbone.modules())
    assert_close(outputs(backbone), before)
    upstream = MODELS.build(cls.upstream_config(dict(type=cls.__name__, method=method, **cfg)))
    upstream.load_state_dict(backbone.state_dict(), strict=True)
    upstream.eval()
    assert_close(outputs(upstream), before)


def test_dinov2_position_interpolation_has_no_upstream():
    with pytest.raises(NotImplementedError, match='num_register_tokens'):
        PEFTViT.upstream_config(dict(type='PEFTViT', **TINY_DINOV2))


def test_a_non_mergeable_method_is_refused_and_nothing_changes():
    backbone = MonaSwinTransformer(**TINY_SWIN)
    blocks = backbone.peft_blocks()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(ValueError, match='cannot merge Mona'):
        fold_method(blocks)
    assert all(b.peft_modules() for b in blocks)
    assert backbone.state_dict().keys() == before.keys()
