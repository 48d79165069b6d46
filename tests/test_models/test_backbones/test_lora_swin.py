"""LoRASwinTransformer and LoRandSwinTransformer: the reference counts, the reference function (a
loralib-style official checkpoint and a STAR-MMRotate LoRand checkpoint load and give their
features), freezing, gradients, round trip, LoRA's identity at init and explicit merge."""
import pytest
import torch
from peft_swin_cases import (
    SWIN_B,
    SWIN_L,
    assert_gradients_reach_every_trainable_tensor,
    assert_matches_reference,
    assert_state_dict_round_trip,
)

import mmpeft  # noqa: F401
from mmpeft.engine.checkpoint import trainable_state_dict
from mmpeft.models.backbones import LoRandSwinTransformer, LoRASwinTransformer, PlainSwinTransformer
from mmpeft.models.peft import LoRA, LoRand
from mmpeft.models.utils import count_parameters

from _swin_reference import TINY, randomize_

CLASSES = {'lora': (LoRASwinTransformer, LoRA), 'lorand': (LoRandSwinTransformer, LoRand)}


def tiny(method: str, **kw):
    return CLASSES[method][0](**dict(TINY, drop_path_rate=0.0), **kw)


@pytest.mark.parametrize('method,arch,expected', [
    ('lora', SWIN_B, 3_080_192), ('lora', SWIN_L, 4_620_288),
    ('lorand', SWIN_B, 2_370_816), ('lorand', SWIN_L, 3_543_936)])
def test_trainable_counts_are_the_references(method, arch, expected):
    cls, module = CLASSES[method]
    model = cls(**arch)
    assert count_parameters(model)['trainable'] == expected
    sigma_c = sum(d * arch['embed_dims'] * 2**i for i, d in enumerate(arch['depths']))
    assert (256 * sigma_c if method == 'lora' else 195 * sigma_c + 24_576) == expected
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    if method == 'lora':
        assert all(n.endswith(('.qkv.lora_A', '.qkv.lora_B')) for n in names)
        assert len(names) == 2 * sum(arch['depths'])
        assert not model.stages[0].blocks[0].attn.w_msa.qkv.weight.requires_grad
    else:
        assert all('.lorand1.' in n or '.lorand2.' in n for n in names)


@pytest.mark.parametrize('method', sorted(CLASSES))
def test_reference_checkpoint_gives_the_reference_features(method, tmp_path):
    assert_matches_reference(lambda **kw: tiny(method, **kw), method, tmp_path)


@pytest.mark.parametrize('method', sorted(CLASSES))
def test_gradients_and_round_trip(method):
    model = tiny(method)
    randomize_(model, seed=4)  # LoRA's B is zero at init, which would keep A's gradient at 0
    assert_gradients_reach_every_trainable_tensor(model)
    assert_state_dict_round_trip(lambda: tiny(method))


def test_lora_is_the_pretrained_swin_at_init_and_lorand_is_not():
    torch.manual_seed(0)
    plain = PlainSwinTransformer(**dict(TINY, drop_path_rate=0.0))
    randomize_(plain, seed=2)
    plain.eval()
    x = torch.randn(1, 3, 64, 64)
    for method in sorted(CLASSES):
        model = tiny(method).eval()
        missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)
        assert not unexpected and missing
        with torch.no_grad():
            same = all(torch.equal(a, b) for a, b in zip(model(x), plain(x)))
        assert same == (method == 'lora'), method


def test_lora_merge_folds_the_update_and_checkpoints_stay_unmerged():
    model = tiny('lora')
    randomize_(model, seed=5)
    model.eval()
    x = torch.randn(2, 3, 64, 80)
    qkv = model.stages[1].blocks[0].attn.w_msa.qkv
    weight = qkv.weight.detach().clone()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        unmerged = model(x)
    assert model.merge() == 5 and qkv.merged
    assert not torch.allclose(qkv.weight, weight)  # the update is in the weight now
    with torch.no_grad():
        merged = model(x)
    for a, b in zip(merged, unmerged):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    # the state dict (so every checkpoint, the trainable-only one too) holds the unmerged weights
    after = model.state_dict()
    assert set(after) == set(state)
    for k, v in state.items():
        torch.testing.assert_close(after[k], v, atol=1e-6, rtol=1e-5)
    small = trainable_state_dict(model)
    assert any(k.endswith('lora_B') for k in small) and not any(
        k.endswith('qkv.weight') for k in small)
    # a merged layer refuses to train; unmerge() restores the weight
    model.train()
    with pytest.raises(RuntimeError, match='merged'):
        model(x)
    assert model.merge(False) == 5
    torch.testing.assert_close(qkv.weight, weight, atol=1e-6, rtol=1e-5)
    # loading into a merged model leaves it unmerged with the loaded weights
    model.merge()
    model.load_state_dict(state)
    assert not qkv.merged
    assert torch.equal(qkv.weight, state['stages.1.blocks.0.attn.w_msa.qkv.weight'])
