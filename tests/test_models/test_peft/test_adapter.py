"""The Adapter and AdaptFormer modules: parameters, formula, init per reference, registration."""
import pytest
import torch
import torch.nn.functional as F

import mmpeft  # noqa: F401
from mmpeft.models.peft import Adapter, AdaptFormer, PEFTModule, Site

NAMES = {'project1.weight', 'project1.bias', 'project2.weight', 'project2.bias'}


@pytest.mark.parametrize('cls,c', [(Adapter, 32), (Adapter, 192), (AdaptFormer, 128)])
def test_parameters_and_formula(cls, c):
    m = cls(c, dropout=0.0)
    assert {n for n, _ in m.named_parameters()} == NAMES
    assert sum(p.numel() for p in m.parameters()) == 129 * c + 64
    x = torch.randn(2, 7, c)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()
        hidden = F.gelu(F.linear(x, m.project1.weight, m.project1.bias))
        mlp = F.linear(hidden, m.project2.weight, m.project2.bias)
        expected = x + mlp if cls is Adapter else 0.1 * mlp
        torch.testing.assert_close(m(x, (1, 7)), expected)


def test_dropout_after_the_gelu_in_train_mode_only():
    m = Adapter(16, dropout=0.5)
    x = torch.randn(1, 20, 16)
    m.train()
    torch.manual_seed(0)
    assert not torch.equal(m(x), m(x))
    m.eval()
    assert torch.equal(m(x), m(x))


@pytest.mark.parametrize('cls', [Adapter, AdaptFormer])
def test_init_follows_the_reference(cls):
    torch.manual_seed(0)
    mona = cls(256)  # official Mona repo: trunc-normal std 0.02, bias 0
    assert torch.equal(mona.project1.bias, torch.zeros(64))
    assert abs(mona.project1.weight.std().item() - 0.02) < 0.002
    star = cls(256, reference='star')  # STAR-MMRotate: PyTorch's default Linear init
    bound = 1 / 256**0.5
    assert star.project1.weight.abs().max() <= bound and star.project1.bias.abs().max() > 0
    assert star.project1.weight.std().item() > 0.02 * 1.2


def test_declared_sites_and_registration():
    assert issubclass(Adapter, PEFTModule) and issubclass(AdaptFormer, PEFTModule)
    assert tuple(Adapter.placements({})) == (('adapter1', Site.ATTN_OUT),
                                             ('adapter2', Site.FFN_OUT))
    assert tuple(Adapter.placements({'reference': 'star'})) == (
        ('adapter1', Site.ATTN_OUT_DROPPED), ('adapter2', Site.FFN_OUT_DROPPED))
    assert tuple(AdaptFormer.placements({})) == (('adapter', Site.FFN_PARALLEL), )
    from mmdet.registry import MODELS as DET
    from mmrotate.registry import MODELS as ROT
    from mmseg.registry import MODELS as SEG
    for reg in (DET, SEG, ROT):
        assert isinstance(reg.build(dict(type='Adapter', in_dims=8)), Adapter)
        assert isinstance(reg.build(dict(type='AdaptFormer', in_dims=8)), AdaptFormer)
    with pytest.raises(TypeError, match='inner_dims must be an integer'):
        Adapter(32, inner_dims=6.5)
