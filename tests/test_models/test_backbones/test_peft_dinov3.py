"""PEFTDINOv3: DINOv3's ViTs with the methods, loading the released files.

The reference below is written from the official formulas (``DinoVisionTransformer``'s
``prepare_tokens_with_masks`` and ``get_intermediate_layers(norm=True)``, ``SelfAttentionBlock``,
``LinearKMaskedBias``, ``RopePositionEmbedding`` with ``normalize_coords='separate'`` and
``rope_apply``; facebookresearch/dinov3 at 6876159), independently of mmpeft's modules: it reads
the tensors of a file in the released layout (tiny, random), by name, in float64. Mona, Adapter
and AdaptFormer are computed as in :mod:`test_peft_vit`.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from test_peft_vit import mona_inputs, ref_mlp, ref_mona, sub

from mmpeft.checkpoint import CheckpointMismatchError
from mmpeft.models.backbones import PEFTDINOv3, PEFTViT
from mmpeft.models.backbones.peft_dinov3 import DINOv3RotaryEmbedding
from mmpeft.models.utils import count_parameters

from e2e_utils import TINY_DINOV2, dinov3_official_state, write_tiny_dinov2_checkpoint

C = 32
MLP = dict(embed_dims=C, num_layers=2, num_heads=2, ffn_ratio=4)  # head dims 16
SWIGLU = dict(MLP, ffn_ratio=6, ffn_type='swiglu')  # hidden int(192 * 2 / 3) = 128
# as the 7B: SwiGLU aligned to 64 (int(96 * 2 / 3) = 64), no q/k/v bias
NO_BIAS = dict(MLP, ffn_ratio=3, ffn_type='swiglu', swiglu_align=64, qkv_bias=False)
ARCHS = {'mlp': MLP, 'swiglu': SWIGLU, '7b-style': NO_BIAS}
METHODS = ('Mona', 'LoRA', 'Adapter', 'AdaptFormer')
# per block, C = 32: as test_peft_vit (Mona 2 (133 C + 9728), LoRA 2 r (C + C), r = 64, ...)
PER_LAYER = {'Mona': 2 * (133 * C + 9728), 'LoRA': 2 * 64 * (C + C), 'Adapter': 2 * (129 * C + 64),
             'AdaptFormer': 129 * C + 64}
# equal token counts (32) in both orientations, and a square grid
SIZES = [(64, 128), (128, 64), (96, 96)]


def write(tmp_path, state, name='dinov3.pth') -> str:
    path = str(tmp_path / name)
    torch.save(state, path)
    return path


def loaded(path: str, arch: dict, **cfg) -> PEFTDINOv3:
    """A PEFTDINOv3 built for ``arch``, the file loaded through ``init_cfg``, float64, eval."""
    model = PEFTDINOv3(arch=arch, out_indices=(0, 1),
                       init_cfg=dict(type='Pretrained', checkpoint=path), **cfg)
    model.init_weights()
    return model.double().eval()


def randomise_method(model: PEFTDINOv3, seed: int = 0, scale: float = 0.2) -> None:
    """Random values in the method's parameters (zero-initialised factors would hide errors)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if model.is_method_param(name):
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


# ------------------------------------------------------------------------------ reference
def ref_rope_angles(h: int, w: int, periods: torch.Tensor) -> torch.Tensor:
    """``(h * w, D)`` angles: coordinates ``2 (i + 0.5) / n - 1`` per axis, ``D / 4`` row angles
    ``2 pi c_h / P_m`` then ``D / 4`` column angles, the whole tiled twice."""
    q = periods.numel()
    angles = torch.zeros(h, w, 4 * q, dtype=torch.float64)
    for r in range(h):
        for c in range(w):
            ch, cw = 2 * (r + 0.5) / h - 1, 2 * (c + 0.5) / w - 1
            for m in range(q):
                for half in (0, 2 * q):
                    angles[r, c, half + m] = 2 * math.pi * ch / float(periods[m])
                    angles[r, c, half + q + m] = 2 * math.pi * cw / float(periods[m])
    return angles.reshape(h * w, 4 * q)


def ref_rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate-half: channel m turns with channel m + D/2 by angle m."""
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos[:, :half] - b * sin[:, :half],
                      b * cos[:, half:] + a * sin[:, half:]], dim=-1)


def ref_block(p: dict, m: dict, x: torch.Tensor, h: int, w: int, heads: int,
              angles: torch.Tensor, method) -> torch.Tensor:
    """The official ``SelfAttentionBlock`` (eval) with the method's modules (parameters ``m``)."""
    def ln(t, name):
        return F.layer_norm(t, (t.shape[-1], ), p[f'{name}.weight'], p[f'{name}.bias'], 1e-5)

    def around_patches(fn, t):  # a map module sees the patches; the 5 prefix tokens unchanged
        return torch.cat([t[:, :5], fn(t[:, 5:])], dim=1)

    b, n, c = x.shape
    weight = p['attn.qkv.weight']
    if method == 'LoRA':  # q and v slots: B_s A_s / rank (alpha 1, rank 64)
        a, bb = m['attn.qkv.lora_A'], m['attn.qkv.lora_B']
        weight = weight.clone()
        weight[:c] += bb[:c] @ a[:64] / 64
        weight[2 * c:] += bb[c:] @ a[64:] / 64
    bias = p['attn.qkv.bias'] * p['attn.qkv.bias_mask'] if 'attn.qkv.bias' in p else None
    q, k, v = F.linear(ln(x, 'norm1'), weight, bias).reshape(
        b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q = torch.cat([q[:, :, :5], ref_rotate(q[:, :, 5:], angles)], dim=2)
    k = torch.cat([k[:, :, :5], ref_rotate(k[:, :, 5:], angles)], dim=2)
    att = (q @ k.transpose(-2, -1) / math.sqrt(c // heads)).softmax(-1)
    y = F.linear((att @ v).transpose(1, 2).reshape(b, n, c), p['attn.proj.weight'],
                 p['attn.proj.bias']) * p['ls1.gamma']
    if method == 'Adapter':
        y = y + ref_mlp(sub(m, 'adapter1.'), y)
    x = x + y
    if method == 'Mona':
        x = around_patches(lambda t: ref_mona(sub(m, 'mona1.'), t, h, w), x)
    hn = ln(x, 'norm2')
    if 'mlp.fc1.weight' in p:
        f = F.linear(F.gelu(F.linear(hn, p['mlp.fc1.weight'], p['mlp.fc1.bias'])),
                     p['mlp.fc2.weight'], p['mlp.fc2.bias'])
    else:
        f = F.linear(F.silu(F.linear(hn, p['mlp.w1.weight'], p['mlp.w1.bias']))
                     * F.linear(hn, p['mlp.w2.weight'], p['mlp.w2.bias']),
                     p['mlp.w3.weight'], p['mlp.w3.bias'])
    f = f * p['ls2.gamma']
    if method == 'Adapter':
        f = f + ref_mlp(sub(m, 'adapter2.'), f)
    out = x + f
    if method == 'AdaptFormer':
        out = out + 0.1 * ref_mlp(sub(m, 'adapter.'), x)
    if method == 'Mona':
        out = around_patches(lambda t: ref_mona(sub(m, 'mona2.'), t, h, w), out)
    return out


def ref_dinov3(state: dict, img: torch.Tensor, arch: dict, indices, method=None,
               method_state=None) -> list:
    """The official DINOv3 dense features of ``img``: ``get_intermediate_layers(n=indices,
    norm=True, reshape=True)`` (sides cropped to multiples of 16)."""
    p = {k: v.double() for k, v in state.items()}
    x = F.conv2d(img.double(), p['patch_embed.proj.weight'], p['patch_embed.proj.bias'],
                 stride=16)
    b, c, h, w = x.shape
    x = torch.cat([p['cls_token'].expand(b, -1, -1), p['storage_tokens'].expand(b, -1, -1),
                   x.flatten(2).transpose(1, 2)], dim=1)
    angles = ref_rope_angles(h, w, p['rope_embed.periods'])
    outs = []
    for i in range(arch['num_layers']):
        m = sub(method_state or {}, f'blocks.{i}.')
        x = ref_block(sub(p, f'blocks.{i}.'), m, x, h, w, arch['num_heads'], angles, method)
        if i in indices:
            normed = F.layer_norm(x, (c, ), p['norm.weight'], p['norm.bias'], 1e-5)
            outs.append(normed[:, 5:].reshape(b, h, w, c).permute(0, 3, 1, 2))
    return outs


def assert_features_equal(outs, refs) -> None:
    assert len(outs) == len(refs)
    for out, ref in zip(outs, refs):
        assert out.shape == ref.shape and out.dtype == torch.float64
        rel = (out - ref).norm() / ref.norm()
        assert rel < 1e-4, rel


# ------------------------------------------------------------------------------ RoPE
def test_initial_periods_are_the_released_bf16_table():
    """Without a file the periods are the released ones (base 100, bfloat16-rounded)."""
    released = [1, 1.3359375, 1.78125, 2.375, 3.15625, 4.21875, 5.625, 7.5, 10, 13.3125, 17.75,
                23.75, 31.625, 42.25, 56.25, 75]
    assert DINOv3RotaryEmbedding(64).periods.tolist() == released
    exact = 100.**(torch.arange(16) * 4 / 64)
    assert not torch.equal(DINOv3RotaryEmbedding(64).periods, exact)


@pytest.mark.parametrize('hw', [(4, 8), (8, 4), (6, 6), (1, 3)])
def test_rope_table_is_the_official_formula(hw):
    rope = DINOv3RotaryEmbedding(16)
    with torch.no_grad():
        rope.periods.mul_(torch.linspace(1, 1.3, 4))  # loaded periods, not the base's
    angles = ref_rope_angles(*hw, rope.periods.double())
    cos, sin = rope.table(hw, torch.device('cpu'))
    torch.testing.assert_close(cos.double(), angles.cos(), rtol=0, atol=1e-5)
    torch.testing.assert_close(sin.double(), angles.sin(), rtol=0, atol=1e-5)
    x = torch.randn(2, 2, hw[0] * hw[1], 16, dtype=torch.float64)
    torch.testing.assert_close(rope(x, hw), ref_rotate(x, angles), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------ equivalence
@pytest.mark.parametrize('name', sorted(ARCHS))
def test_features_equal_the_official_model(name, tmp_path):
    """Float64, eval, no method: every requested block's normed patch map equals the official
    ``get_intermediate_layers(norm=True)`` on a file with a masked k bias, O(1) layer scales
    and perturbed periods, at non-square grids of equal token counts (4x8, 8x4) and a square
    one; no interpolation anywhere (the outputs are the input's grid)."""
    arch = ARCHS[name]
    state = dinov3_official_state(arch, local_cls_norm=True)
    model = loaded(write(tmp_path, state), arch)
    torch.testing.assert_close(model.rope_embed.periods.float(), state['rope_embed.periods'])
    for size in SIZES:
        img = torch.randn(1, 3, *size, dtype=torch.float64)
        with torch.no_grad():
            outs = model(img)
        assert outs[0].shape == (1, C, size[0] // 16, size[1] // 16)
        assert_features_equal(outs, ref_dinov3(state, img, arch, (0, 1)))


def test_the_file_periods_and_the_bias_mask_matter(tmp_path):
    """The comparison would catch periods recomputed from the base and an unmasked k bias."""
    state = dinov3_official_state(MLP)
    model = loaded(write(tmp_path, state), MLP)
    img = torch.randn(1, 3, 64, 128, dtype=torch.float64)
    with torch.no_grad():
        out = model(img)[1]
        recomputed = dict(state, **{'rope_embed.periods': DINOv3RotaryEmbedding(16).periods})
        unmasked = {k: (torch.ones_like(v) if k.endswith('bias_mask') else v)
                    for k, v in state.items()}
    for other in (recomputed, unmasked):
        ref = ref_dinov3(other, img, MLP, (1, ))[0]
        assert (out - ref).norm() / ref.norm() > 1e-3


@pytest.mark.parametrize('method', METHODS)
def test_identity_adapters_keep_the_official_features(method, tmp_path):
    """Each method, its output projections zeroed (identity modules), changes nothing."""
    state = dinov3_official_state(SWIGLU)
    model = loaded(write(tmp_path, state), SWIGLU, method=dict(type=method))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if model.is_method_param(name) and ('project2' in name or 'lora_B' in name):
                p.zero_()
    img = torch.randn(2, 3, 128, 64, dtype=torch.float64)
    with torch.no_grad():
        assert_features_equal(model(img), ref_dinov3(state, img, SWIGLU, (0, 1)))


@pytest.mark.parametrize('method', METHODS)
def test_methods_equal_the_reference(method, tmp_path):
    """Random method weights: each method's modules at their sites, Mona on the patch map (the
    class and storage tokens pass by), on a non-square grid."""
    state = dinov3_official_state(MLP)
    model = loaded(write(tmp_path, state), MLP, method=dict(type=method))
    randomise_method(model)
    img = torch.randn(2, 3, 80, 112, dtype=torch.float64)
    with torch.no_grad():
        outs = model(img)
    ref = ref_dinov3(state, img, MLP, (0, 1), method,
                     {k: v.detach() for k, v in model.state_dict().items()})
    assert_features_equal(outs, ref)


def test_mona_sees_the_patch_grid(tmp_path):
    model = PEFTDINOv3(arch=MLP, method=dict(type='Mona')).eval()
    seen = mona_inputs(model, torch.randn(2, 3, 80, 48))
    assert seen and all(s == ((2, 15, C), (5, 3)) for s in seen)


def test_sides_are_cropped_to_the_patch_as_officially(tmp_path):
    """A 90 x 120 input gives the 5 x 7 grid of its top-left 80 x 112 crop (no padding, no
    interpolation), as the official strided patch embedding."""
    model = loaded(write(tmp_path, dinov3_official_state(MLP)), MLP)
    img = torch.randn(1, 3, 90, 120, dtype=torch.float64)
    with torch.no_grad():
        out, crop = model(img)[1], model(img[..., :80, :112])[1]
    assert out.shape == (1, C, 5, 7)
    torch.testing.assert_close(out, crop)


def test_train_mode_adds_no_coordinate_augmentation_unless_asked(tmp_path):
    path = write(tmp_path, dinov3_official_state(MLP))
    img = torch.randn(1, 3, 64, 96, dtype=torch.float64)
    model = loaded(path, MLP)
    with torch.no_grad():
        ref = model(img)[1]
        model.train()
        torch.testing.assert_close(model(img)[1], ref)
    augmented = loaded(path, MLP, rope_rescale_coords=2.)
    with torch.no_grad():
        torch.testing.assert_close(augmented(img)[1], ref)  # eval: no augmentation
        augmented.train()
        torch.manual_seed(0)
        first, second = augmented(img)[1], augmented(img)[1]
    assert (first - ref).abs().max() > 1e-4 and (first - second).abs().max() > 1e-4


# ------------------------------------------------------------------------------ checkpoints
def test_released_layout_is_detected_and_unused_keys_reported(tmp_path):
    state = dinov3_official_state(SWIGLU, local_cls_norm=True)
    model = PEFTDINOv3(arch=SWIGLU, method=dict(type='Mona'))
    report = model.load_pretrained(write(tmp_path, state))
    assert report.notes['layout'] == 'dinov3'
    assert set(report.notes['unused']) == {'mask_token', 'local_cls_norm.weight',
                                           'local_cls_norm.bias'}
    assert report.matched_ratio == 1.0
    bias = state['blocks.1.attn.qkv.bias']
    assert torch.equal(model.blocks[1].attn.qkv.bias[:C], bias[:C])
    assert torch.all(model.blocks[1].attn.qkv.bias[C:2 * C] == 0)
    assert 'bias_mask' not in ''.join(model.state_dict())


def test_own_checkpoint_round_trip(tmp_path):
    """A saved PEFTDINOv3 (method included, bias already folded) loads back exactly."""
    model = loaded(write(tmp_path, dinov3_official_state(MLP)), MLP, method=dict(type='Mona'))
    randomise_method(model)
    path = write(tmp_path, {f'backbone.{k}': v for k, v in model.float().state_dict().items()},
                 'own.pth')
    again = PEFTDINOv3(arch=MLP, method=dict(type='Mona'), out_indices=(0, 1))
    again.load_pretrained(path)
    img = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(img)[1], model.eval()(img)[1])


def _without(state, *prefixes):
    return {k: v for k, v in state.items() if not k.startswith(prefixes)}


@pytest.mark.parametrize('case, arch, match', [
    ('no periods', MLP, 'no rope_embed.periods'),
    ('bias into 7B', NO_BIAS, 'a q/k/v bias .* set arch qkv_bias=True'),
    ('no bias', MLP, 'no q/k/v bias .* set arch qkv_bias=False'),
    ('storage', MLP, '2 storage tokens .* num_storage_tokens=2'),
    ('width', dict(MLP, embed_dims=48, num_heads=3), 'wrong shape'),
    ('swiglu file', MLP, r'only \d+\.\d+% of the pretrained weights'),
    ('block missing', MLP, r'pretrained weights of PEFTDINOv3 are not in the checkpoint'),
    ('mask alone', MLP, 'bias_mask .* has no q/k/v bias'),
    ('nan mask', MLP, 'bias_mask is not finite'),
])
def test_loader_refusals(case, arch, match, tmp_path):
    state = dinov3_official_state(MLP)
    if case == 'no periods':
        state.pop('rope_embed.periods')
    elif case == 'no bias':
        state = {k: v for k, v in state.items() if '.qkv.bias' not in k}
    elif case == 'storage':
        state['storage_tokens'] = state['storage_tokens'][:, :2]
    elif case == 'swiglu file':
        state = dinov3_official_state(dict(MLP, ffn_type='swiglu', ffn_ratio=6))
    elif case == 'block missing':
        state = _without(state, 'blocks.1.norm2.')
    elif case == 'mask alone':
        state.pop('blocks.0.attn.qkv.bias')
    elif case == 'nan mask':
        state['blocks.0.attn.qkv.bias_mask'] = torch.full((3 * C, ), math.nan)
    model = PEFTDINOv3(arch=arch, method=dict(type='LoRA'))
    with pytest.raises(CheckpointMismatchError, match=match):
        model.load_pretrained(write(tmp_path, state))


def test_other_families_files_are_refused_by_name(tmp_path):
    dinov2 = write_tiny_dinov2_checkpoint(str(tmp_path / 'dinov2.pth'))
    with pytest.raises(CheckpointMismatchError, match='"dinov2" checkpoint.*PEFTViT'):
        PEFTDINOv3(arch=MLP).load_pretrained(dinov2)
    dinov3 = write(tmp_path, dinov3_official_state(MLP))
    with pytest.raises(CheckpointMismatchError, match='"dinov3" checkpoint.*PEFTDINOv3'):
        PEFTViT(**TINY_DINOV2).load_pretrained(dinov3)


# ------------------------------------------------------------------------------ training
@pytest.mark.parametrize('method', METHODS + ('LoRand', ))
def test_only_the_method_trains(method):
    model = PEFTDINOv3(arch=MLP, method=dict(type=method), drop_path_rate=0.1)
    counts = count_parameters(model)
    if method in PER_LAYER:
        assert counts['trainable'] == MLP['num_layers'] * PER_LAYER[method]
    model.train()
    model(torch.randn(1, 3, 48, 64))[0].square().sum().backward()
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and trained == {n for n, p in model.named_parameters() if p.grad is not None}
    assert all(n.startswith('blocks.') and model.is_method_param(n) for n in trained)
    assert 'rope_embed.periods' in model.state_dict()


def test_full_fine_tuning_keeps_the_k_bias_zero_and_the_floor_trains_nothing():
    full = PEFTDINOv3(arch=MLP, trainable=None)
    assert count_parameters(full)['frozen'] == 0
    full.train()
    full(torch.randn(1, 3, 48, 64))[0].square().sum().backward()
    grad = full.blocks[0].attn.qkv.bias.grad
    assert torch.all(grad[C:2 * C] == 0) and grad[:C].abs().sum() > 0 and grad[2 * C:].abs().sum()
    assert count_parameters(PEFTDINOv3(arch=MLP))['trainable'] == 0
    tokens = PEFTDINOv3(arch=MLP, method=dict(type='Mona'), trainable=['storage_tokens'])
    assert {n for n, p in tokens.named_parameters()
            if p.requires_grad and 'mona' not in n} == {'storage_tokens'}


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = PEFTDINOv3(arch=MLP, method=dict(type='Mona'))
    cp = PEFTDINOv3(arch=MLP, method=dict(type='Mona'), with_cp=True)
    cp.load_state_dict(plain.state_dict())
    plain, cp = plain.double(), cp.double()  # float32 sums differ in the last bits
    img = torch.randn(1, 3, 48, 64, dtype=torch.float64)
    grads = []
    for model in (plain, cp):
        model.train()
        torch.manual_seed(1)  # the same dropout masks in Mona
        model(img)[0].square().sum().backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], rtol=1e-7, atol=1e-10)


# ------------------------------------------------------------------------------ sizes, settings
# parameters of the released ViTs (dinov3/MODEL_CARD.md; without mask_token / local_cls_norm)
RELEASED_M = {'vits16': 21.6, 'vits16plus': 28.7, 'vitb16': 85.7, 'vitl16': 303.2,
              'vitl16plus': 403.9, 'vith16plus': 840.6, 'vit7b16': 6716}


@pytest.mark.parametrize('arch', sorted(RELEASED_M))
def test_released_sizes(arch):
    with torch.device('meta'):
        model = PEFTDINOv3(arch=arch)
    n = sum(p.numel() for p in model.parameters())
    digits = 0 if arch == 'vit7b16' else 1
    assert round(n / 1e6, digits) == RELEASED_M[arch], n
    c = model.embed_dims
    assert model.rope_embed.periods.shape == ((32, ) if arch == 'vit7b16' else (16, ))
    assert (model.blocks[0].attn.qkv.bias is None) == (arch == 'vit7b16')
    assert hasattr(model.blocks[0].mlp, 'w3') == arch.endswith(('plus', '7b16'))
    assert model.norm.eps == 1e-5 and model.storage_tokens.shape == (1, 4, c)


def test_7b_with_mona_counts_of_the_memory_note():
    """The counts behind configs/README.md's ViT-7B memory note (meta device: no memory)."""
    with torch.device('meta'):
        model = PEFTDINOv3(arch='vit7b16', method=dict(type='Mona'), with_cp=True)
    counts = count_parameters(model)
    assert counts['frozen'] == 6_716_030_976 and counts['trainable'] == 44_359_680
    assert counts['trainable'] == 40 * 2 * (133 * 4096 + 9728)


def test_settings_and_refusals():
    model = PEFTDINOv3(arch=MLP, out_indices=-1, drop_path_rate=0.2)
    assert model.out_indices == [1]
    assert all(b.drop_path_attn.drop_prob == 0.2 for b in model.blocks)  # one rate, as DINOv3
    with pytest.raises(ValueError, match='unknown arch'):
        PEFTDINOv3(arch='vitb14')
    with pytest.raises(ValueError, match='multiple of 4'):
        PEFTDINOv3(arch=dict(MLP, embed_dims=40, num_heads=4))
    with pytest.raises(ValueError, match='out_indices'):
        PEFTDINOv3(arch=MLP, out_indices=(2, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        PEFTDINOv3(arch=MLP, frozen_stages=1)
    with pytest.raises(TypeError, match='unexpected arguments'):
        PEFTDINOv3(arch=MLP, img_size=224)
    with pytest.raises(ValueError, match='rescale_coords'):
        PEFTDINOv3(arch=MLP, rope_rescale_coords=0.5)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmrotate'])
def test_registered_in_every_scope(scope):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model = registry.build(dict(type='PEFTDINOv3', arch=MLP, method=dict(type='Mona')))
    assert isinstance(model, PEFTDINOv3)
