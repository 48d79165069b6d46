"""The Mona adapter: parameters, initialisation, formula, dropout, registration."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import mmpeft  # noqa: F401
from mmpeft.models.backbones import MonaSwinTransformer
from mmpeft.models.peft import Mona, PEFTModule, Site

from _swin_reference import TINY, randomize_

ADAPTER_NAMES = {
    'norm.weight', 'norm.bias', 'gamma', 'gammax', 'project1.weight', 'project1.bias',
    'adapter_conv.conv1.weight', 'adapter_conv.conv1.bias', 'adapter_conv.conv2.weight',
    'adapter_conv.conv2.bias', 'adapter_conv.conv3.weight', 'adapter_conv.conv3.bias',
    'adapter_conv.projector.weight', 'adapter_conv.projector.bias', 'project2.weight',
    'project2.bias'
}


@pytest.mark.parametrize('c', [32, 96, 128, 1024])
def test_mona_param_count_and_names(c):
    m = Mona(c)
    assert sum(p.numel() for p in m.parameters()) == 133 * c + 9728
    assert {n for n, _ in m.named_parameters()} == ADAPTER_NAMES
    assert isinstance(m.dropout, nn.Dropout) and m.dropout.p == 0.1
    assert m.adapter_conv.projector.kernel_size == (1, 1)
    assert [m.adapter_conv.conv1.kernel_size, m.adapter_conv.conv2.kernel_size,
            m.adapter_conv.conv3.kernel_size] == [(3, 3), (5, 5), (7, 7)]
    assert all(getattr(m.adapter_conv, f'conv{i}').groups == 64 for i in (1, 2, 3))


def test_mona_init_values():
    torch.manual_seed(0)
    m = Mona(256)
    assert torch.equal(m.gamma, torch.full((256, ), 1e-6))
    assert torch.equal(m.gammax, torch.ones(256))
    assert torch.equal(m.norm.weight, torch.ones(256)) and torch.equal(m.norm.bias,
                                                                       torch.zeros(256))
    assert m.norm.eps == 1e-5
    for lin in (m.project1, m.project2):
        assert torch.equal(lin.bias, torch.zeros_like(lin.bias))
        assert abs(lin.weight.std().item() - 0.02) < 0.002
        assert lin.weight.abs().max().item() < 0.02 * 6
    # PyTorch default conv init: U(+-1/sqrt(fan_in)), fan_in = k*k for the depthwise convs
    for conv, bound in ((m.adapter_conv.conv1, 1 / 3), (m.adapter_conv.conv2, 1 / 5),
                        (m.adapter_conv.conv3, 1 / 7), (m.adapter_conv.projector, 1 / 8)):
        assert conv.weight.abs().max().item() <= bound + 1e-6
        assert conv.weight.abs().max().item() > 0.8 * bound


def test_mona_forward_matches_formula_and_grads():
    torch.manual_seed(0)
    c, h, w = 48, 5, 7
    m = Mona(c, dropout=0.0)
    randomize_(m, seed=1)
    x = torch.randn(2, h * w, c, requires_grad=True)
    out = m(x, (h, w))
    assert out.shape == x.shape

    x_in = m.gamma * F.layer_norm(x, (c, ), m.norm.weight, m.norm.bias, 1e-5) + m.gammax * x
    z = F.linear(x_in, m.project1.weight, m.project1.bias)
    z = z.transpose(1, 2).reshape(2, 64, h, w)
    a = m.adapter_conv
    dw = [F.conv2d(z, cv.weight, cv.bias, padding=k // 2, groups=64)
          for cv, k in ((a.conv1, 3), (a.conv2, 5), (a.conv3, 7))]
    mm = (dw[0] + dw[1] + dw[2]) / 3 + z
    p = F.conv2d(mm, a.projector.weight, a.projector.bias) + mm
    hh = F.gelu(p.flatten(2).transpose(1, 2))
    expected = x + F.linear(hh, m.project2.weight, m.project2.bias)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)

    out.square().sum().backward()
    for name, prm in m.named_parameters():
        assert prm.grad is not None and prm.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_mona_dropout_in_train_mode_only():
    m = Mona(16)
    x = torch.randn(1, 12, 16)
    m.train()
    torch.manual_seed(0)
    a = m(x, (3, 4))
    b = m(x, (3, 4))
    assert not torch.equal(a, b)
    m.eval()
    assert torch.equal(m(x, (3, 4)), m(x, (3, 4)))


def test_mona_rejects_wrong_hw():
    m = Mona(16)
    with pytest.raises(ValueError, match=r'12 tokens but hw_shape \(4, 4\)'):
        m(torch.randn(1, 12, 16), (4, 4))


def test_mona_registered_in_all_scopes():
    from mmdet.registry import MODELS as DET
    from mmrotate.registry import MODELS as ROT
    from mmseg.registry import MODELS as SEG
    for reg in (DET, SEG, ROT):
        assert reg.get('Mona') is Mona
        assert reg.get('MonaSwinTransformer') is MonaSwinTransformer
    m = DET.build(dict(type='MonaSwinTransformer', **TINY))
    assert isinstance(m, MonaSwinTransformer)


def test_mona_declares_its_sites():
    """After the attention residual and after the FFN residual, as the official Mona-Swin."""
    assert issubclass(Mona, PEFTModule)
    assert tuple(Mona.insertions) == (('mona1', Site.ATTN_RESIDUAL), ('mona2', Site.FFN_RESIDUAL))


@pytest.mark.parametrize('value,error', [(0, ValueError), (-3, ValueError), (7.5, TypeError),
                                         ('8', TypeError), (True, TypeError)])
def test_mona_integer_settings_are_checked(value, error):
    with pytest.raises(error, match='Mona: inner_dims must be'):
        Mona(32, inner_dims=value)
    with pytest.raises(error, match='Mona: in_dims must be'):
        Mona(value)
