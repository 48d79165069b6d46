"""The LoRA layer: identity at init, the update written out, slots, merge, registration."""
import math

import pytest
import torch
import torch.nn as nn

import mmpeft  # noqa: F401
from mmpeft.models.peft import LoRA, Site


def over(linear: nn.Linear, **cfg) -> LoRA:
    return LoRA.build_at(Site.QKV, linear, cfg)


def test_wraps_the_linear_and_starts_as_it():
    torch.manual_seed(0)
    linear = nn.Linear(16, 48)
    lora = over(linear)
    assert lora.weight is linear.weight and lora.bias is linear.bias
    assert lora.lora_A.shape == (128, 16) and lora.lora_B.shape == (32, 64)
    assert torch.equal(lora.lora_B, torch.zeros(32, 64))
    bound = 1 / math.sqrt(16)  # kaiming-uniform, a = sqrt(5)
    assert lora.lora_A.abs().max() <= bound and lora.lora_A.abs().max() > 0.9 * bound
    x = torch.randn(3, 5, 16)
    assert torch.equal(lora(x), linear(x))
    assert [lora.is_peft_param(n) for n in ('weight', 'bias', 'lora_A', 'lora_B')] == [
        False, False, True, True]


@pytest.mark.parametrize('targets', [('q', 'v'), ('q', 'k', 'v'), ('k', )])
def test_update_of_each_slot(targets):
    torch.manual_seed(1)
    c, r = 12, 4
    lora = over(nn.Linear(c, 3 * c), rank=r, alpha=2.0, targets=targets)
    with torch.no_grad():
        lora.lora_B.normal_()
    x = torch.randn(2, c)
    expected = x @ lora.weight.T + lora.bias
    for g, slot in enumerate(sorted(targets, key='qkv'.index)):
        s = 'qkv'.index(slot)
        a = lora.lora_A[g * r:(g + 1) * r]
        b = lora.lora_B[g * c:(g + 1) * c]
        expected[:, s * c:(s + 1) * c] += (x @ a.T @ b.T) * (2.0 / r)
    torch.testing.assert_close(lora(x), expected)
    torch.testing.assert_close(x @ (lora.weight + lora.delta_weight()).T + lora.bias, expected)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='targets'):
        over(nn.Linear(8, 24), targets=('q', 'x'))
    with pytest.raises(ValueError, match='3 x the width'):
        LoRA(8, 20)
    with pytest.raises(TypeError, match='rank must be an integer'):
        over(nn.Linear(8, 24), rank=2.5)
    with pytest.raises(TypeError, match='replaces an nn.Linear'):
        LoRA.build_at(Site.ATTN_OUT, 8, {})
