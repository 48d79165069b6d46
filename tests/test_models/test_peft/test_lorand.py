"""The LoRand adapter: its factored Linear, init bounds, parameter count, formula."""
import math

import torch
import torch.nn.functional as F

import mmpeft  # noqa: F401
from mmpeft.models.peft import LoRand, LoRandLinear, Site


def test_factored_linear_weight_and_init():
    torch.manual_seed(0)
    lin = LoRandLinear(40, 20)
    names = {n for n, _ in lin.named_parameters()}
    assert names == {f'param_dict.{f}{k}' for f in 'AgB' for k in range(4)} | {'bias'}
    p = lin.param_dict
    assert p['A0'].shape == (40, 8) and p['g0'].shape == (8, 8) and p['B0'].shape == (8, 20)
    for key, fan_in in (('A1', 8), ('g2', 8), ('B3', 20)):  # kaiming-uniform, a = sqrt(5)
        assert p[key].abs().max() <= 1 / math.sqrt(fan_in)
    assert lin.bias.abs().max() <= 1 / math.sqrt(40)
    w = sum((p[f'A{k}'] @ p[f'g{k}'] @ p[f'B{k}']).t() for k in range(4))
    x = torch.randn(3, 40)
    torch.testing.assert_close(lin(x), x @ w.T + lin.bias)


def test_adapter_count_formula_and_sites():
    c = 64
    m = LoRand(c)
    assert sum(q.numel() for q in m.parameters()) == int(97.5 * c + 512)
    x = torch.randn(2, 9, c)
    expected = x + m.project2(F.gelu(m.project1(x)))
    torch.testing.assert_close(m(x, (3, 3)), expected)
    assert tuple(LoRand.insertions) == (('lorand1', Site.ATTN_OUT_DROPPED),
                                        ('lorand2', Site.FFN_OUT_DROPPED))
