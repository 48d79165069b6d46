"""Fused Mona (one 7x7 depth-wise conv, identity-folded 1x1, fused scaled LayerNorm) and
``with_cp``: same function, same parameters, same gradients as the literal official computation."""
import copy

import pytest
import torch
import torch.nn.functional as F

import mmpeft  # noqa: F401
from mmpeft.models.backbones import MonaSwinTransformer
from mmpeft.models.peft import Mona

from _swin_reference import TINY, randomize_


def random_mona(c=48, dtype=torch.float64, seed=0, **kw) -> Mona:
    torch.manual_seed(seed)
    m = Mona(c, **kw).to(dtype)
    with torch.no_grad():
        for p in m.parameters():  # large random weights: every term of the function matters
            p.normal_(0, 0.5)
    return m


def run(m, x, hw, seed=7):
    x = x.detach().clone().requires_grad_(True)
    torch.manual_seed(seed)  # same dropout mask in both paths
    out = m(x, hw)
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    (out * w).sum().backward()
    grads = {n: p.grad.clone() for n, p in m.named_parameters()}
    return out.detach(), x.grad.clone(), grads


@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 2e-4)])
@pytest.mark.parametrize('hw', [(7, 9), (1, 5), (12, 12)])
@pytest.mark.parametrize('mode', ['train', 'eval'])
def test_fused_equals_unfused_outputs_and_grads(dtype, tol, hw, mode):
    fused = random_mona(dtype=dtype, fused=True)
    ref = copy.deepcopy(fused)
    ref.fused = False
    fused.train(mode == 'train')
    ref.train(mode == 'train')
    x = torch.randn(2, hw[0] * hw[1], 48, dtype=dtype)
    o1, gx1, g1 = run(fused, x, hw)
    o2, gx2, g2 = run(ref, x, hw)
    scale = o2.abs().max()
    assert (o1 - o2).abs().max() <= tol * scale
    assert (gx1 - gx2).abs().max() <= tol * gx2.abs().max()
    assert g1.keys() == g2.keys() and len(g1) == 16
    for n in g1:
        assert g2[n].abs().max() > 0, n
        assert (g1[n] - g2[n]).abs().max() <= tol * g2[n].abs().max(), n


def test_comparison_is_sensitive():
    """Guard the test above: a tiny change of one conv tap must show up beyond its tolerance."""
    m = random_mona(fused=True).eval()
    ref = copy.deepcopy(m)
    ref.fused = False
    x = torch.randn(1, 30, 48, dtype=torch.float64)
    with torch.no_grad():
        m.adapter_conv.conv1.weight[:, :, 0, 0] += 1e-6
        diff = (m(x, (5, 6)) - ref(x, (5, 6))).abs().max()
    assert diff > 1e-10 * ref(x, (5, 6)).abs().max()


def test_combined_kernels_match_separate_convs():
    m = random_mona()
    ac = m.adapter_conv
    z = torch.randn(2, 64, 9, 11, dtype=torch.float64)
    k, b, pw, pb = ac.fused_params()
    assert k.shape == (64, 1, 7, 7) and pw.shape == (64, 64)
    dw = F.conv2d(z, k, b, padding=3, groups=64)
    torch.testing.assert_close(dw, (ac.conv1(z) + ac.conv2(z) + ac.conv3(z)) / 3 + z)
    proj = F.linear(dw.permute(0, 2, 3, 1), pw, pb).permute(0, 3, 1, 2)
    torch.testing.assert_close(proj, ac(z))


def test_parameters_and_state_dict_unchanged():
    a, b = Mona(96, fused=True), Mona(96, fused=False)
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]
    assert list(a.state_dict()) == list(b.state_dict())
    assert sum(p.numel() for p in a.parameters()) == 133 * 96 + 9728
    b.load_state_dict(a.state_dict(), strict=True)
    with torch.no_grad():
        a.eval()(torch.randn(1, 4, 96), (2, 2))  # fills the cache
    assert list(a.state_dict()) == list(b.state_dict())


def test_eval_cache_used_and_invalidated():
    m = random_mona(fused=True).eval()
    ref = copy.deepcopy(m)
    ref.fused = False
    x = torch.randn(1, 20, 48, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(m(x, (4, 5)), ref(x, (4, 5)))
        assert m._fused_cache is not None
        cached = m._fused_cache[0]
        m(x, (4, 5))
        assert m._fused_cache[0] is cached  # reused
        # an in-place parameter update (optimizer step, load_state_dict) invalidates it
        for mod in (m, ref):
            mod.adapter_conv.conv3.weight.add_(0.3)
            mod.adapter_conv.projector.bias.sub_(0.2)
        torch.testing.assert_close(m(x, (4, 5)), ref(x, (4, 5)))
        assert m._fused_cache[0] is not cached
        sd = {k: v + 0.1 for k, v in ref.state_dict().items()}
        m.load_state_dict(sd)
        ref.load_state_dict(sd)
        torch.testing.assert_close(m(x, (4, 5)), ref(x, (4, 5)))
    m.train()
    assert m._fused_cache is None
    # with autograd recording, nothing is cached and gradients reach the conv parameters
    m.eval()
    m(x, (4, 5)).sum().backward()
    assert m._fused_cache is None
    assert m.adapter_conv.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('fused', [True, False])
def test_with_cp_same_output_and_grads(fused):
    m = random_mona(fused=fused, with_cp=False).train()
    mc = copy.deepcopy(m)
    mc.with_cp = True
    x = torch.randn(2, 42, 48, dtype=torch.float64)
    o1, gx1, g1 = run(m, x, (6, 7))
    o2, gx2, g2 = run(mc, x, (6, 7))  # dropout 0.1 active: the RNG state must be replayed
    torch.testing.assert_close(o1, o2)
    torch.testing.assert_close(gx1, gx2)
    for n in g1:
        torch.testing.assert_close(g1[n], g2[n])


def test_with_cp_stores_fewer_activations():
    """Saved tensors for backward: only the input with ``with_cp``."""
    m = random_mona(c=96, dtype=torch.float32).train()
    mc = copy.deepcopy(m)
    mc.with_cp = True
    x = torch.randn(2, 400, 96, requires_grad=True)

    def saved_bytes(mod):
        total = []

        def pack(t):
            total.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = mod(x, (20, 20))
        out.sum().backward()
        return sum(total)

    assert saved_bytes(mc) < 0.3 * saved_bytes(m)


def assert_same_train_step(ref, fast, x, seed):
    """Same outputs and parameter gradients (same RNG seed for dropout / drop-path)."""
    res = []
    for model in (ref, fast):
        torch.manual_seed(seed)
        outs = model(x)
        sum((o * torch.linspace(0, 1, o.numel(), dtype=o.dtype).view_as(o)).sum()
            for o in outs).backward()
        res.append((outs, {n: p.grad for n, p in model.named_parameters() if p.requires_grad}))
    (o1, g1), (o2, g2) = res
    for a, b in zip(o1, o2):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8)
    assert g1.keys() == g2.keys()
    for n in g1:
        torch.testing.assert_close(g1[n], g2[n], atol=1e-10, rtol=1e-7)
    return g1


def test_mona_swin_fused_vs_unfused_with_cp():
    cfg = dict(TINY, drop_path_rate=0.0)
    ref = MonaSwinTransformer(**cfg, mona_cfg=dict(fused=False)).double().train()
    randomize_(ref, seed=5, scale=0.3)
    fast = MonaSwinTransformer(**cfg, mona_cfg=dict(fused=True, with_cp=True)).double().train()
    fast.load_state_dict(ref.state_dict(), strict=True)
    assert all(m.with_cp and m.fused for n, m in fast.named_modules() if isinstance(m, Mona))
    g1 = assert_same_train_step(ref, fast, torch.randn(1, 3, 61, 83, dtype=torch.float64), 11)
    assert len(g1) == 5 * 2 * 16


def test_mona_swin_with_cp_defers_mona2_and_keeps_function_with_dropout_and_drop_path(monkeypatch):
    """Recomputing adapters: Mona #2 of a block runs inside the next block together with its norm1
    (and Mona #1 with norm2). With drop-path and adapter dropout active, outputs and gradients
    equal the plain forward, and fewer tensors are stored than when each adapter is recomputed on
    its own (the norms would store the adapter outputs)."""
    from mmdet.models.backbones.swin import SwinBlockSequence

    from mmpeft.models.backbones import PEFTSwinBlock, PEFTSwinBlockSequence
    cfg = dict(TINY, drop_path_rate=0.3)
    ref = MonaSwinTransformer(**cfg, mona_cfg=dict(dropout=0.2)).double().train()
    randomize_(ref, seed=2, scale=0.3)
    fast = MonaSwinTransformer(**cfg, mona_cfg=dict(dropout=0.2, with_cp=True)).double().train()
    fast.load_state_dict(ref.state_dict(), strict=True)
    assert all(isinstance(s, PEFTSwinBlockSequence) for s in fast.stages)
    assert max(len(s.blocks) for s in fast.stages) > 1  # deferral happens
    assert_same_train_step(ref, fast, torch.randn(2, 3, 64, 80, dtype=torch.float64), 5)

    def saved_bytes(model):
        total = []

        def pack(t):
            total.append(t.numel() * t.element_size())
            return t

        inp = torch.randn(1, 3, 64, 64, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            outs = model(inp)
        sum(o.sum() for o in outs).backward()
        return sum(total)

    mona_cp = MonaSwinTransformer(**dict(TINY, drop_path_rate=0.0), mona_cfg=dict(with_cp=True))
    mona_cp.train()
    folded = saved_bytes(mona_cp)

    def separate(self, x, hw_shape, pending=None, defer=False):
        x = self.drop_path_attn(self.attn(self.norm1(x), hw_shape)) + x
        x = self.mona1(x, hw_shape)
        x = x + self.drop_path_ffn(self.ffn(self.norm2(x)))
        return self.mona2(x, hw_shape)

    monkeypatch.setattr(PEFTSwinBlock, 'peft_forward', separate)
    monkeypatch.setattr(PEFTSwinBlockSequence, 'forward', SwinBlockSequence.forward)
    unfolded = saved_bytes(mona_cp)
    # at least one (B, N, C) map per block is not stored any more
    per_block = sum(len(s.blocks) * (64 // 2**(i + 2))**2 * 32 * 2**i * 4
                    for i, s in enumerate(mona_cp.stages))
    assert unfolded - folded >= per_block, (unfolded, folded, per_block)
