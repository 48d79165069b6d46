"""PEFTSwinTransformer: a method's module goes exactly where its declared site says.

Toy methods stand in for real ones: each site is checked against the formula of the site table in
``mmpeft.models.peft.base``, written out here from mmdet's own submodules.
"""
import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import SwinTransformer

import mmpeft  # noqa: F401
from mmpeft.models.backbones import PEFTSwinBlock, PEFTSwinTransformer
from mmpeft.models.peft import PEFTModule, Site

from _swin_reference import TINY, randomize_


class AddOne(PEFTModule):
    """Sequential toy: ``m(x) = x * w + 1`` (w = 1 at init)."""
    insertions = (('toy', Site.ATTN_OUT), )

    def __init__(self, dims: int, site: str = Site.ATTN_OUT) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(dims))

    @classmethod
    def placements(cls, cfg):
        return (('toy', cfg['site']), )

    def forward(self, x, hw_shape):
        return x * self.w + 1.0


class ScaledQKV(PEFTModule):
    """QKV toy: the frozen Linear's weight and bias under their own names, a trainable scale."""
    insertions = ((None, Site.QKV), )

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias
        self.scale = nn.Parameter(torch.full((linear.out_features, ), 2.0))

    @classmethod
    def build_at(cls, site, target, cfg):
        return cls(target)

    def is_peft_param(self, name: str) -> bool:
        return name == 'scale'

    def forward(self, x):
        return nn.functional.linear(x, self.weight, self.bias) * self.scale


class Half(nn.Module):
    """A deterministic stand-in for DropPath, so that before/after drop-path can be told apart."""

    def forward(self, x):
        return 0.5 * x


#: sites whose module's output is added (the others replace the tensor)
ADDED = (Site.FFN_PARALLEL, Site.ATTN_BYPASS, Site.FFN_BYPASS)


def reference_block(block, x, hw, site, m):
    """The block written out from the site table, with ``m`` at ``site``."""
    f = {s: (lambda t: t) for s in Site.ALL}
    f[site] = (lambda t: m(t, hw)) if site not in ADDED else f[site]
    h = block.norm1(x)
    a = f[Site.ATTN_OUT](block.attn(h, hw))
    x = x + f[Site.ATTN_OUT_DROPPED](block.drop_path_attn(a))
    if site == Site.ATTN_BYPASS:
        x = x + block.drop_path_attn(m(h, hw))
    x = f[Site.ATTN_RESIDUAL](x)
    h = block.norm2(x)
    out = x + f[Site.FFN_OUT_DROPPED](block.drop_path_ffn(f[Site.FFN_OUT](block.ffn(h))))
    if site == Site.FFN_BYPASS:
        out = out + block.drop_path_ffn(m(h, hw))
    if site == Site.FFN_PARALLEL:
        out = out + m(x, hw)
    return f[Site.FFN_RESIDUAL](out)


def tiny(**kw) -> PEFTSwinTransformer:
    return PEFTSwinTransformer(**dict(TINY, drop_path_rate=0.0), **kw)


def test_without_method_it_is_mmdet_swin_with_the_same_keys_and_function():
    ref = SwinTransformer(**dict(TINY, drop_path_rate=0.2))
    randomize_(ref, seed=3)
    peft = PEFTSwinTransformer(**dict(TINY, drop_path_rate=0.2))
    assert list(peft.state_dict()) == list(ref.state_dict())
    peft.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 61, 83)
    for train in (False, True):  # drop-path active in train mode: same draws in the same order
        ref.train(train)
        peft.train(train)
        torch.manual_seed(7)
        a = ref(x)
        torch.manual_seed(7)
        b = peft(x)
        for u, v in zip(a, b):
            assert torch.equal(u, v)
    assert all(type(b) is PEFTSwinBlock for s in peft.stages for b in s.blocks)


@pytest.mark.parametrize('site', [s for s in Site.ALL if s != Site.QKV])
def test_each_site_applies_the_module_where_the_table_says(site):
    model = tiny(method=dict(type=AddOne, site=site))
    randomize_(model, seed=1)
    block = model.stages[1].blocks[0]
    assert block.peft_sites == {site: 'toy'} and isinstance(block.toy, AddOne)
    block.drop_path_attn, block.drop_path_ffn = Half(), Half()
    x, hw = torch.randn(2, 6 * 7, 64), (6, 7)
    with torch.no_grad():
        torch.testing.assert_close(block(x, hw), reference_block(block, x, hw, site, block.toy))
        # and the module matters: without it the result differs
        without = reference_block(block, x, hw, site, lambda t, _: t if site not in ADDED
                                  else torch.zeros_like(t))
    assert not torch.allclose(block(x, hw), without)


def test_before_and_after_drop_path_differ():
    outs = []
    for site in (Site.ATTN_OUT, Site.ATTN_OUT_DROPPED):
        model = tiny(method=dict(type=AddOne, site=site))
        randomize_(model, seed=1)
        block = model.stages[0].blocks[0]
        block.drop_path_attn = Half()
        with torch.no_grad():
            outs.append(block(torch.ones(1, 4, 32), (2, 2)))
    # 0.5 * (a + 1) vs 0.5 * a + 1: the residual stream differs by exactly 0.5 before the FFN
    assert not torch.allclose(outs[0], outs[1])


def test_only_the_method_trains_and_swin_keys_are_unchanged():
    model = tiny(method=dict(type=AddOne, site=Site.FFN_RESIDUAL))
    plain = SwinTransformer(**TINY)
    swin_keys = set(plain.state_dict())
    keys = set(model.state_dict())
    assert swin_keys <= keys
    assert keys - swin_keys == {f'stages.{i}.blocks.{j}.toy.w' for i, d in enumerate((1, 1, 2, 1))
                                for j in range(d)}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == keys - swin_keys
    model.train()
    model.init_weights()
    assert {n for n, p in model.named_parameters() if p.requires_grad} == trainable


def test_qkv_site_replaces_the_linear_and_keeps_its_names():
    ref = SwinTransformer(**dict(TINY, drop_path_rate=0.0))
    ref.eval()  # mmdet's SwinTransformer.train() returns None: no chaining
    randomize_(ref, seed=2)
    model = tiny(method=dict(type=ScaledQKV)).eval()
    missing, unexpected = model.load_state_dict(ref.state_dict(), strict=False)
    assert not unexpected and all(k.endswith('attn.w_msa.qkv.scale') for k in missing)
    qkv = model.stages[0].blocks[0].attn.w_msa.qkv
    assert isinstance(qkv, ScaledQKV)
    assert qkv.weight is not None and not qkv.weight.requires_grad and qkv.scale.requires_grad
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n in missing}
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(model(x)[0], ref(x)[0])
        for m in model.modules():
            if isinstance(m, ScaledQKV):
                m.scale.fill_(1.0)
        for a, b in zip(model(x), ref(x)):
            torch.testing.assert_close(a, b)


def test_unknown_method_and_double_site_are_refused():
    with pytest.raises(KeyError, match='unknown PEFT method'):
        tiny(method=dict(type='NoSuchMethod'))
    with pytest.raises(TypeError, match="with a 'type'"):
        tiny(method=dict(inner_dims=8))
    block = tiny().stages[0].blocks[0]
    block.add_module_at(Site.ATTN_RESIDUAL, 'a', AddOne(32))
    with pytest.raises(ValueError, match='already holds'):
        block.add_module_at(Site.ATTN_RESIDUAL, 'b', AddOne(32))
    with pytest.raises(ValueError, match='unknown site'):
        block.add_module_at('after_everything', 'c', AddOne(32))
