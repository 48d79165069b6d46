"""VPTSwin: exactness against mmdet's Swin, an independent prompted-window-attention reference,
patch-merging order, batch independence, parameter counts, freezing, train mode, loading."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.backbones.swin import ShiftWindowMSA, SwinTransformer
from mmdet.models.layers import PatchMerging

from mmpeft.models.backbones import MonaSwinTransformer, PlainSwinTransformer, VPTSwin
from mmpeft.models.backbones.vpt_swin import PromptedPatchMerging, PromptedShiftWindowMSA

from _swin_reference import norm_unfold_to_concat, randomize_, reduction_unfold_to_concat
from e2e_utils import TINY_SWIN, write_tiny_swin_checkpoint

TINY = dict(embed_dims=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8], window_size=7,
            drop_path_rate=0.)
SWIN_B = dict(embed_dims=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32])
SWIN_L = dict(embed_dims=192, depths=[2, 2, 18, 2], num_heads=[6, 12, 24, 48])


def tiny_pair(num_prompts, deep, seed=0, prompt_dropout=None, **kw):
    """A randomised mmdet Swin and a VPTSwin holding the same Swin weights."""
    cfg = dict(TINY, **kw)
    ref = randomize_(SwinTransformer(**cfg), seed=seed)
    ref.eval()  # mmdet's SwinTransformer.train() returns None
    vpt = VPTSwin(num_prompts=num_prompts, deep=deep, prompt_dropout=prompt_dropout, **cfg)
    missing, unexpected = vpt.load_state_dict(ref.state_dict(), strict=False)
    assert not unexpected
    assert all('prompt' in k for k in missing)
    return ref, vpt.eval()


def prompt_numel(model):
    return sum(p.numel() for n, p in model.named_parameters() if 'prompt' in n)


# --------------------------------------------------------------------------- exactness
@pytest.mark.parametrize('deep', [True, False])
def test_zero_prompts_equals_mmdet_swin(deep):
    ref, vpt = tiny_pair(0, deep)
    assert prompt_numel(vpt) == 0
    x = torch.rand(2, 3, 75, 101)  # odd sizes: window padding and merging padding
    with torch.no_grad():
        a, b = ref(x), vpt(x)
    assert len(a) == len(b) == 4
    for u, v in zip(a, b):
        assert u.shape == v.shape
        assert torch.allclose(u, v, atol=1e-6), (u - v).abs().max()


@pytest.mark.parametrize('deep', [True, False])
def test_prompts_change_the_features(deep):
    ref, vpt = tiny_pair(4, deep)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = ref(x), vpt(x)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        assert (u - v).abs().max() > 1e-3


def reference_prompted_msa(msa: ShiftWindowMSA, x: torch.Tensor, hw, P: int) -> torch.Tensor:
    """Loop-per-image, loop-per-window prompted (S)W-MSA written from the VPT description
    (Microsoft relative-position indexing, region-label shift mask, per-image prompt mean)."""
    w = msa.w_msa
    ws, s, nh = msa.window_size, msa.shift_size, w.num_heads
    B, _, C = x.shape
    H, W = hw
    Hp, Wp = math.ceil(H / ws) * ws, math.ceil(W / ws) * ws
    label = torch.zeros(Hp, Wp)
    if s:
        cuts = [(0, Hp - ws), (Hp - ws, Hp - s), (Hp - s, Hp)]
        cuts_w = [(0, Wp - ws), (Wp - ws, Wp - s), (Wp - s, Wp)]
        cnt = 0
        for h0, h1 in cuts:
            for w0, w1 in cuts_w:
                label[h0:h1, w0:w1] = cnt
                cnt += 1
    rr, cc = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing='ij')
    rr, cc = rr.flatten(), cc.flatten()
    rel = (rr[:, None] - rr[None, :] + ws - 1) * (2 * ws - 1) + (cc[:, None] - cc[None, :] + ws - 1)
    table_bias = w.relative_position_bias_table[rel.flatten()].view(ws * ws, ws * ws, nh)
    N = P + ws * ws
    bias = torch.zeros(nh, N, N)
    bias[:, P:, P:] = table_bias.permute(2, 0, 1)
    out = torch.zeros(B, P + H * W, C)
    for b in range(B):
        img = torch.zeros(Hp, Wp, C)
        img[:H, :W] = x[b, P:].view(H, W, C)
        if s:
            img = torch.roll(img, (-s, -s), (0, 1))
        res = torch.zeros_like(img)
        prompt_outs = []
        for y0 in range(0, Hp, ws):
            for x0 in range(0, Wp, ws):
                tok = img[y0:y0 + ws, x0:x0 + ws].reshape(ws * ws, C)
                lab = label[y0:y0 + ws, x0:x0 + ws].reshape(-1)
                mask = torch.zeros(N, N)
                mask[P:, P:] = (lab[:, None] != lab[None, :]).float() * -100.0
                seq = torch.cat([x[b, :P], tok])
                qkv = F.linear(seq, w.qkv.weight, w.qkv.bias).view(N, 3, nh, C // nh)
                q, k, v = qkv.unbind(1)  # N, nh, hd
                att = torch.einsum('ihd,jhd->hij', q * w.scale, k) + bias + mask
                o = torch.einsum('hij,jhd->ihd', att.softmax(-1), v).reshape(N, C)
                o = F.linear(o, w.proj.weight, w.proj.bias)
                prompt_outs.append(o[:P])
                res[y0:y0 + ws, x0:x0 + ws] = o[P:].view(ws, ws, C)
        if s:
            res = torch.roll(res, (s, s), (0, 1))
        out[b, :P] = torch.stack(prompt_outs).mean(0)
        out[b, P:] = res[:H, :W].reshape(H * W, C)
    return out


@pytest.mark.parametrize('shift', [0, 2])
@pytest.mark.parametrize('hw', [(8, 8), (9, 11)])
def test_prompted_window_attention_matches_reference(shift, hw):
    torch.manual_seed(0)
    P, C = 3, 8
    msa = ShiftWindowMSA(embed_dims=C, num_heads=2, window_size=4, shift_size=shift)
    with torch.no_grad():
        for p in msa.parameters():
            p.normal_(0, 0.5)
    msa = PromptedShiftWindowMSA.convert(msa, P).eval()
    x = torch.randn(2, P + hw[0] * hw[1], C)
    with torch.no_grad():
        got = msa(x, hw)
        want = reference_prompted_msa(msa, x, hw, P)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_shift_mask_never_masks_prompts():
    """Prompt rows/columns of the attention get no -100 and no position bias."""
    P, C = 2, 8
    msa = PromptedShiftWindowMSA.convert(
        ShiftWindowMSA(embed_dims=C, num_heads=2, window_size=4, shift_size=2), P).eval()
    with torch.no_grad():
        msa.w_msa.relative_position_bias_table.fill_(5.0)
        msa.w_msa.qkv.weight.zero_()
        msa.w_msa.qkv.bias.zero_()  # all logits = bias + mask
    probs = []
    handle = msa.w_msa.softmax.register_forward_hook(lambda m, i, o: probs.append(o))
    with torch.no_grad():
        msa(torch.randn(1, P + 64, C), (8, 8))
    handle.remove()
    attn = probs[0]  # (nW, nh, N, N)
    assert attn.shape == (4, 2, P + 16, P + 16)
    # prompt rows: no bias, no mask -> uniform over all tokens of the window
    assert torch.allclose(attn[:, :, :P], torch.full_like(attn[:, :, :P], 1 / (P + 16)))
    # image rows: prompt columns get weight exp(0) vs exp(5) of unmasked image columns, never ~0
    assert (attn[:, :, P:, :P] > 1e-4).all()
    # last window is split into regions by the shift: some image pairs are masked
    assert (attn[-1, :, P:, P:] < 1e-30).any()


@pytest.mark.parametrize('hw', [(8, 8), (7, 9)])
def test_patch_merging_carries_prompts_in_concat_order(hw):
    torch.manual_seed(0)
    P, C = 3, 8
    merge = PatchMerging(in_channels=C, out_channels=2 * C)
    with torch.no_grad():
        for p in merge.parameters():
            p.normal_(0, 0.5)
    plain = PatchMerging(in_channels=C, out_channels=2 * C)
    plain.load_state_dict(merge.state_dict())
    merge = PromptedPatchMerging.convert(merge, P)
    x = torch.randn(2, P + hw[0] * hw[1], C)
    with torch.no_grad():
        out, size = merge(x, hw)
        img, size_ref = plain(x[:, P:], hw)
        # official (Microsoft) order: prompt concatenated 4 times, weights in concat order
        ln = nn.LayerNorm(4 * C)
        ln.weight.copy_(norm_unfold_to_concat(merge.norm.weight))
        ln.bias.copy_(norm_unfold_to_concat(merge.norm.bias))
        want_prompts = F.linear(ln(torch.cat([x[:, :P]] * 4, dim=-1)),
                                reduction_unfold_to_concat(merge.reduction.weight))
    assert size == size_ref == ((hw[0] + 1) // 2, (hw[1] + 1) // 2)
    assert out.shape == (2, P + size[0] * size[1], 2 * C)
    assert torch.allclose(out[:, P:], img, atol=1e-6)
    assert torch.allclose(out[:, :P], want_prompts, atol=1e-5)


# --------------------------------------------------------------------------- batch, outputs
@pytest.mark.parametrize('deep', [True, False])
def test_an_image_does_not_see_the_other_images_of_its_batch(deep):
    _, vpt = tiny_pair(5, deep)
    torch.manual_seed(1)
    a, b, c = torch.rand(3, 1, 3, 70, 90)
    with torch.no_grad():
        f_ab = vpt(torch.cat([a, b]))
        f_ac = vpt(torch.cat([a, c]))
        f_ca = vpt(torch.cat([c, a]))
        f_a = vpt(a)
    for x_ab, x_ac, x_ca, x_a in zip(f_ab, f_ac, f_ca, f_a):
        assert torch.allclose(x_ab[0], x_ac[0], atol=1e-5)
        assert torch.allclose(x_ab[0], x_ca[1], atol=1e-5)
        assert torch.allclose(x_ab[0], x_a[0], atol=1e-5)
        assert not torch.allclose(x_ab[1], x_ac[1], atol=1e-3)  # b and c do differ


@pytest.mark.parametrize('deep', [True, False])
def test_outputs_follow_the_mmdet_interface(deep):
    vpt = VPTSwin(num_prompts=7, deep=deep, out_indices=(1, 2, 3), **TINY).eval()
    assert not hasattr(vpt, 'norm0')
    with torch.no_grad():
        outs = vpt(torch.rand(2, 3, 100, 132))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 13, 17), (2, 128, 7, 9), (2, 256, 4, 5)]
    for i in (1, 2, 3):  # output norms frozen at identity
        norm = getattr(vpt, f'norm{i}')
        assert not norm.weight.requires_grad and torch.all(norm.weight == 1)
        assert torch.all(norm.bias == 0)


# --------------------------------------------------------------------------- parameters
@pytest.mark.parametrize('arch,deep,per_prompt', [
    (SWIN_B, True, 12_032), (SWIN_B, False, 128), (SWIN_L, True, 18_048), (SWIN_L, False, 192),
    (TINY, True, 32 + 64 + 2 * 128 + 256), (TINY, False, 32)])
def test_trainable_parameter_count_is_the_formula(arch, deep, per_prompt):
    P = 50 if arch is SWIN_B else 3
    vpt = VPTSwin(num_prompts=P, deep=deep, **arch)
    trainable = {n: p.numel() for n, p in vpt.named_parameters() if p.requires_grad}
    assert sum(trainable.values()) == per_prompt * P
    assert all('prompt' in n for n in trainable)
    expected = {'prompt_embeddings'}
    if deep:
        # stage 0: prompt_embeddings for block 0, deep_prompt_embeddings_0 for the others
        first = 0 if arch['depths'][0] > 1 else 1
        expected |= {f'deep_prompt_embeddings_{i}' for i in range(first, 4)}
    assert set(trainable) == expected
    if arch is SWIN_B and deep:
        assert sum(trainable.values()) == 601_600
        assert tuple(vpt.deep_prompt_embeddings_0.shape) == (1, 50, 128)
        assert tuple(vpt.deep_prompt_embeddings_2.shape) == (18, 50, 512)
        assert tuple(vpt.deep_prompt_embeddings_3.shape) == (2, 50, 1024)


def test_prompt_init_and_dropout_defaults():
    torch.manual_seed(0)
    vpt = VPTSwin(num_prompts=50, deep=True, **SWIN_B)
    bound = math.sqrt(6 / (3 * 4 * 4 + 128))
    assert vpt.prompt_init_bound == pytest.approx(0.1846, abs=1e-4) == bound
    for name in ('prompt_embeddings', 'deep_prompt_embeddings_1', 'deep_prompt_embeddings_3'):
        p = getattr(vpt, name).detach()
        assert p.abs().max() <= bound
        assert p.abs().max() > 0.95 * bound
        assert p.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert vpt.prompt_dropout.p == 0.1
    assert VPTSwin(num_prompts=5, deep=False, **TINY).prompt_dropout.p == 0.0
    assert VPTSwin(num_prompts=5, deep=False, prompt_dropout=0.2, **TINY).prompt_dropout.p == 0.2
    assert not hasattr(vpt, 'prompt_proj')


@pytest.mark.parametrize('deep', [True, False])
@pytest.mark.parametrize('with_cp', [False, True])
def test_differentiable_end_to_end_only_prompts_get_gradients(deep, with_cp):
    _, vpt = tiny_pair(4, deep, with_cp=with_cp)
    vpt.train()
    outs = vpt(torch.rand(2, 3, 64, 80))
    sum((o ** 2).mean() for o in outs).backward()
    names = []
    for n, p in vpt.named_parameters():
        if 'prompt' in n:
            assert p.grad is not None and p.grad.abs().sum() > 0, n
            names.append(n)
        else:
            assert p.grad is None, n
    assert len(names) == (4 if deep else 1)  # TINY depths[0] = 1: no deep set 0


def test_train_keeps_the_frozen_swin_in_eval_mode():
    vpt = VPTSwin(num_prompts=4, deep=True, prompt_dropout=0.0,
                  **dict(TINY, drop_path_rate=0.5, drop_rate=0.3))
    vpt.train()
    assert vpt.training and vpt.prompt_dropout.training
    frozen_modes = [m.training for m in vpt.modules()
                    if m is not vpt and m is not vpt.prompt_dropout]
    assert frozen_modes and not any(frozen_modes)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a, b = vpt(x), vpt(x)
    assert all(torch.equal(u, v) for u, v in zip(a, b))  # drop-path / dropout inert
    assert all(p.requires_grad == ('prompt' in n) for n, p in vpt.named_parameters())
    vpt.eval()
    assert not vpt.prompt_dropout.training

    live = VPTSwin(num_prompts=4, deep=True, frozen_eval=False, prompt_dropout=0.0,
                   **dict(TINY, drop_path_rate=0.5)).train()
    assert live.stages[0].blocks[0].training
    torch.manual_seed(0)
    with torch.no_grad():
        a, b = live(x), live(x)
    assert not all(torch.equal(u, v) for u, v in zip(a, b))


def test_prompt_dropout_is_active_in_training():
    _, vpt = tiny_pair(4, True, prompt_dropout=0.5)
    vpt.train()
    x = torch.rand(1, 3, 64, 64)
    torch.manual_seed(0)
    with torch.no_grad():
        a, b = vpt(x), vpt(x)
    assert not torch.allclose(a[0], b[0])
    vpt.eval()
    with torch.no_grad():
        a, b = vpt(x), vpt(x)
    assert torch.equal(a[0], b[0])


@pytest.mark.parametrize('deep', [True, False])
def test_prompt_dropout_draws_one_mask_per_image(deep):
    """Two copies of an image in one batch get different prompt-dropout masks (as the official
    code, which expands the prompts to the batch before the dropout)."""
    _, vpt = tiny_pair(4, deep, prompt_dropout=0.5)
    vpt.train()
    x = torch.rand(1, 3, 64, 64).expand(2, -1, -1, -1)
    torch.manual_seed(0)
    with torch.no_grad():
        out = vpt(x)
    assert not torch.allclose(out[0][0], out[0][1])
    vpt.eval()
    with torch.no_grad():
        out = vpt(x)
    torch.testing.assert_close(out[0][0], out[0][1])


def test_refuses_frozen_stages_and_bad_prompt_counts():
    with pytest.raises(ValueError):
        VPTSwin(num_prompts=4, frozen_stages=1, **TINY)
    with pytest.raises(ValueError, match='num_prompts must be >= 0'):
        VPTSwin(num_prompts=-1, **TINY)
    with pytest.raises(TypeError, match='num_prompts must be an integer, got 2.5'):
        VPTSwin(num_prompts=2.5, **TINY)
    with pytest.raises(TypeError, match='pretrained must be a str or None'):
        VPTSwin(num_prompts=2, pretrained=123, **TINY)


# --------------------------------------------------------------------------- loading, registry
def test_loads_the_mona_checkpoints_through_the_same_code(tmp_path):
    ckpt = write_tiny_swin_checkpoint(str(tmp_path / 'swin.pth'))  # Microsoft layout
    torch.manual_seed(0)
    vpt = VPTSwin(num_prompts=6, deep=True, init_cfg=dict(type='Pretrained', checkpoint=ckpt),
                  **TINY_SWIN)
    prompts_before = vpt.deep_prompt_embeddings_2.detach().clone()
    vpt.init_weights()
    mona = MonaSwinTransformer(init_cfg=dict(type='Pretrained', checkpoint=ckpt), **TINY_SWIN)
    mona.init_weights()
    mona_state = mona.state_dict()
    shared = [k for k in vpt.state_dict() if 'prompt' not in k]
    assert len(shared) > 50
    for k in shared:
        assert torch.equal(vpt.state_dict()[k], mona_state[k]), k
    assert torch.equal(vpt.deep_prompt_embeddings_2, prompts_before)
    assert all(p.requires_grad == ('prompt' in n) for n, p in vpt.named_parameters())

    # with 0 prompts the loaded VPTSwin is the plain Swin loaded from the same file
    plain = PlainSwinTransformer(init_cfg=dict(type='Pretrained', checkpoint=ckpt), **TINY_SWIN)
    plain.init_weights()
    zero = VPTSwin(num_prompts=0, pretrained=ckpt, **TINY_SWIN)
    zero.init_weights()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        plain.eval()
        for u, v in zip(plain(x), zero.eval()(x)):
            assert torch.allclose(u, v, atol=1e-6)

    # an mmpeft checkpoint of a trained VPTSwin restores its prompts too
    with torch.no_grad():
        vpt.prompt_embeddings.add_(1.0)
    torch.save({'state_dict': {'backbone.' + k: v for k, v in vpt.state_dict().items()}},
               str(tmp_path / 'vpt.pth'))
    again = VPTSwin(num_prompts=6, deep=True, pretrained=str(tmp_path / 'vpt.pth'), **TINY_SWIN)
    again.init_weights()
    assert torch.equal(again.prompt_embeddings, vpt.prompt_embeddings)


def test_registered_in_every_scope():
    from mmpeft.registry import SCOPES, scope_registries
    regs = scope_registries('MODELS')
    assert len(regs) == len(SCOPES) == 4  # mmdet, mmseg, mmrotate, mmpretrain
    for reg in regs:
        assert reg.get('VPTSwin') is VPTSwin
    from mmdet.registry import MODELS
    built = MODELS.build(dict(type='VPTSwin', num_prompts=2, deep=False, **TINY))
    assert isinstance(built, VPTSwin) and built.num_prompts == 2 and not built.deep
