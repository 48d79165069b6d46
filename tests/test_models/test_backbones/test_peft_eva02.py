"""PEFTEVA02: the methods in EVA-02, with EVA-02's own rotary position embedding.

The reference below is written from EVA-02's formulas (``asuka``'s ``modeling_finetune.py`` block
with ``rope.py``'s ``VisionRotaryEmbeddingFast``, the ViTDet backbone's bicubic position
interpolation), independently of mmpretrain's and mmpeft's modules: it reads only the parameters,
by name. Mona, Adapter and AdaptFormer are computed as in :mod:`test_peft_vit`.
"""
import pytest
import torch
import torch.nn.functional as F
from test_peft_vit import mona_inputs, ref_mlp, ref_mona, sub

from mmpeft.models.backbones import PEFTEVA02
from mmpeft.models.backbones.peft_eva02 import EVA02RotaryEmbedding, _eva02
from mmpeft.models.utils import count_parameters

from e2e_utils import random_weights

ARCH = dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128)
C, HEADS, HEAD_DIMS = 64, 4, 16
# EVA-02-B/L-style: patch 14, SwiGLU with sub-LN, LN eps 1e-6, a 4x4 position table
EVA = dict(arch=ARCH, patch_size=14, img_size=56, sub_ln=True,
           norm_cfg=dict(type='LN', eps=1e-6), final_norm=False, out_indices=(1, ))
# per layer, C = 64: Mona 2 (133 C + 9728), LoRA 2 r (C + C) with r = 64, Adapter 2 (129 C + 64),
# AdaptFormer 129 C + 64, LoRand 2 (97.5 C + 512)
PER_LAYER = {'Mona': 36480, 'LoRA': 16384, 'Adapter': 16640, 'AdaptFormer': 8320,
             'LoRand': 13504}
METHODS = ('Mona', 'LoRA', 'Adapter', 'AdaptFormer')


def eva02(seed: int = 0, **cfg) -> PEFTEVA02:
    """A random-weight PEFTEVA02 (eval mode) whose k rows of the q/k/v bias are zero, as in
    every EVA-02 model (its k has no bias)."""
    model = random_weights(PEFTEVA02(**dict(EVA, **cfg)), seed)
    with torch.no_grad():
        for layer in model.layers:
            layer.attn.qkv.bias[C:2 * C] = 0
    return model


# ------------------------------------------------------------------------------ reference
def ref_rope_angles(h: int, w: int, head_dims: int, pt_seq_len: int = 16,
                    theta: float = 10000.) -> torch.Tensor:
    """EVA-02's rotary angles ``(h * w, head_dims)`` (float64): the first half of a head's
    channels turn with the row, the second with the column; per axis of ``n`` patches the
    position is ``p / n * pt_seq_len``, and the ``head_dims / 4`` frequencies
    ``theta ** (-2 i / (head_dims / 2))`` each serve one adjacent channel pair."""
    d = head_dims // 2
    freqs = [theta**(-2 * i / d) for i in range(d // 2)]
    angles = torch.zeros(h, w, head_dims, dtype=torch.float64)
    for r in range(h):
        for c in range(w):
            for i, f in enumerate(freqs):
                angles[r, c, 2 * i] = angles[r, c, 2 * i + 1] = r / h * pt_seq_len * f
                angles[r, c, d + 2 * i] = angles[r, c, d + 2 * i + 1] = c / w * pt_seq_len * f
    return angles.reshape(h * w, head_dims)


def ref_rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Each channel pair ``(x_2i, x_2i+1)`` of ``x`` (..., N, D) rotated by its angle."""
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    out = torch.empty_like(x)
    out[..., 0::2] = x[..., 0::2] * cos[:, 0::2] - x[..., 1::2] * sin[:, 0::2]
    out[..., 1::2] = x[..., 1::2] * cos[:, 1::2] + x[..., 0::2] * sin[:, 1::2]
    return out


def ref_block(p: dict, x: torch.Tensor, h: int, w: int, method: str) -> torch.Tensor:
    """EVA-02's pre-norm block (q and v biases, no k bias; RoPE on the patch tokens of q and k;
    SwiGLU with sub-LN) with the method."""
    def ln(t, name):
        return F.layer_norm(t, (t.shape[-1], ), p[f'{name}.weight'], p[f'{name}.bias'], 1e-6)

    def around_patches(fn, t):
        return torch.cat([t[:, :1], fn(t[:, 1:])], dim=1)

    def heads(t):
        return t.reshape(b, n, HEADS, HEAD_DIMS).transpose(1, 2)

    b, n, c = x.shape
    wq, wk, wv = p['attn.qkv.weight'].chunk(3)
    if method == 'LoRA':  # q and v: B_s A_s / rank (alpha 1, rank 64)
        a, bb = p['attn.qkv.lora_A'], p['attn.qkv.lora_B']
        wq, wv = wq + bb[:c] @ a[:64] / 64, wv + bb[c:] @ a[64:] / 64
    q_bias, _, v_bias = p['attn.qkv.bias'].chunk(3)
    hn = ln(x, 'norm1')
    q, k, v = heads(F.linear(hn, wq, q_bias)), heads(F.linear(hn, wk)), heads(
        F.linear(hn, wv, v_bias))
    angles = ref_rope_angles(h, w, HEAD_DIMS)
    q = torch.cat([q[:, :, :1], ref_rotate(q[:, :, 1:], angles)], dim=2)
    k = torch.cat([k[:, :, :1], ref_rotate(k[:, :, 1:], angles)], dim=2)
    att = (q * HEAD_DIMS**-0.5 @ k.transpose(-2, -1)).softmax(-1)
    y = F.linear((att @ v).transpose(1, 2).reshape(b, n, c), p['attn.proj.weight'],
                 p['attn.proj.bias'])
    if method == 'Adapter':
        y = y + ref_mlp(sub(p, 'adapter1.'), y)
    x = x + y
    if method == 'Mona':
        x = around_patches(lambda t: ref_mona(sub(p, 'mona1.'), t, h, w), x)
    hn = ln(x, 'norm2')
    w1, w2 = p['mlp.w12.weight'].chunk(2)
    b1, b2 = p['mlp.w12.bias'].chunk(2)
    hidden = ln(F.silu(F.linear(hn, w1, b1)) * F.linear(hn, w2, b2), 'mlp.norm')
    f = F.linear(hidden, p['mlp.w3.weight'], p['mlp.w3.bias'])
    if method == 'Adapter':
        f = f + ref_mlp(sub(p, 'adapter2.'), f)
    out = x + f
    if method == 'AdaptFormer':
        out = out + 0.1 * ref_mlp(sub(p, 'adapter.'), x)
    if method == 'Mona':
        out = around_patches(lambda t: ref_mona(sub(p, 'mona2.'), t, h, w), out)
    return out


def ref_eva02(model: PEFTEVA02, img: torch.Tensor, method: str) -> torch.Tensor:
    """EVA-02 on ``img`` (padded bottom/right to the patch): class token, position table resized
    bicubically to the grid (as EVA-02's ViTDet backbone), the blocks, the last patch map."""
    p = {k: v.detach() for k, v in model.state_dict().items()}
    img = F.pad(img, (0, -img.shape[-1] % 14, 0, -img.shape[-2] % 14))
    x = F.conv2d(img, p['patch_embed.projection.weight'], p['patch_embed.projection.bias'],
                 stride=14)
    b, c, h, w = x.shape
    x = torch.cat([p['cls_token'].expand(b, -1, -1), x.flatten(2).transpose(1, 2)], dim=1)
    grid = p['pos_embed'][:, 1:].reshape(1, 4, 4, c).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(h, w), mode='bicubic', align_corners=False)
    x = x + torch.cat([p['pos_embed'][:, :1], grid.flatten(2).transpose(1, 2)], dim=1)
    for i in range(ARCH['num_layers']):
        x = ref_block(sub(p, f'layers.{i}.'), x, h, w, method)
    return x[:, 1:].reshape(b, h, w, c).permute(0, 3, 1, 2)


# ------------------------------------------------------------------------------ RoPE
@pytest.mark.parametrize('hw', [(16, 16), (32, 32), (5, 8), (8, 5), (1, 3)])
def test_rope_is_evas_formula_on_every_grid(hw):
    """The table and the rotation equal EVA-02's formula on the pretraining grid, on the square
    grids of its fine-tuning / ViTDet (pt_seq_len 16, ft_seq_len n), and per axis on
    non-square ones; mmpretrain's RotaryEmbeddingFast computes another table."""
    rope = EVA02RotaryEmbedding(HEAD_DIMS)
    angles = ref_rope_angles(*hw, HEAD_DIMS)
    cos, sin = rope.table(hw, torch.device('cpu'))
    torch.testing.assert_close(cos.double(), angles.cos(), rtol=0, atol=1e-5)
    torch.testing.assert_close(sin.double(), angles.sin(), rtol=0, atol=1e-5)
    x = torch.randn(2, HEADS, hw[0] * hw[1], HEAD_DIMS)
    torch.testing.assert_close(rope(x, hw), ref_rotate(x, angles), rtol=1e-5, atol=1e-5)
    if hw[0] > 1:
        theirs = _eva02.RotaryEmbeddingFast(embed_dims=HEAD_DIMS, patch_resolution=hw)
        assert (theirs.freqs_cos.double() - angles.cos()).abs().max() > 0.5


def test_rope_is_relative_and_mmpretrains_is_not():
    """With EVA-02's table the q.k logit of two patches depends only on their offset (for one q
    and one k vector at every position); mmpretrain's table loses that."""
    h, w = 5, 8
    q, k = torch.randn(HEAD_DIMS).expand(h * w, -1), torch.randn(HEAD_DIMS).expand(h * w, -1)
    ours = EVA02RotaryEmbedding(HEAD_DIMS)
    theirs = _eva02.RotaryEmbeddingFast(embed_dims=HEAD_DIMS, patch_resolution=(h, w))
    for rope, relative in ((ours, True), (theirs, False)):
        logits = rope(q[None, None], (h, w))[0, 0] @ rope(k[None, None], (h, w))[0, 0].T
        # patches (0, 0)-(1, 2) and (3, 4)-(4, 6): the same offset
        a, b = logits[0 * w + 0, 1 * w + 2], logits[3 * w + 4, 4 * w + 6]
        assert torch.isclose(a, b, atol=1e-4) == relative, (type(rope).__name__, a, b)


# ------------------------------------------------------------------------------ the backbone
@pytest.mark.parametrize('method', METHODS)
def test_equals_the_reference(method):
    """Every method in EVA-02 at a non-square, non-divisible input (a 5 x 8 grid, the position
    table resized from 4 x 4) equals EVA-02's formulas."""
    model = eva02(method=dict(type=method))
    img = torch.randn(2, 3, 61, 100)
    with torch.no_grad():
        out = model(img)
        ref = ref_eva02(model, img, method)
    assert len(out) == 1 and out[0].shape == (2, C, 5, 8)
    torch.testing.assert_close(out[0], ref, rtol=1e-4, atol=1e-4)


def test_without_a_method_is_mmpretrains_layer_with_evas_table():
    """On the pretraining grid, mmpretrain's ViTEVA02 given EVA-02's table (as a converted
    checkpoint's rope buffers) computes what PEFTEVA02 does; on another grid it recomputes its
    own table and differs."""
    model = eva02(**dict(EVA, final_norm=True))
    ref = _eva02.ViTEVA02(**dict(EVA, final_norm=True, out_type='featmap', out_indices=[1]))
    state = dict(model.state_dict())
    angles = ref_rope_angles(4, 4, HEAD_DIMS).float()
    for name in [k for k in ref.state_dict() if k.endswith(('freqs_cos', 'freqs_sin'))]:
        state[name] = angles.cos() if name.endswith('cos') else angles.sin()
    ref.load_state_dict(state)
    ref.eval()
    with torch.no_grad():
        img = torch.randn(1, 3, 56, 56)
        torch.testing.assert_close(model(img)[0], ref(img)[0], rtol=1e-4, atol=1e-4)
        img = torch.randn(1, 3, 70, 112)
        assert not torch.allclose(model(img)[0], ref(img)[0], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize('method', METHODS + ('LoRand', ))
def test_counts_and_only_the_method_trains(method):
    model = PEFTEVA02(method=dict(type=method), **EVA)
    assert count_parameters(model)['trainable'] == ARCH['num_layers'] * PER_LAYER[method]
    model.train()
    model(torch.randn(1, 3, 42, 56))[0].square().sum().backward()
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {n for n, p in model.named_parameters() if p.grad is not None}
    assert all(n.startswith('layers.') and model.is_method_param(n) for n in trained)
    assert not any(k.endswith(('freqs_cos', 'freqs_sin')) for k in model.state_dict())


def test_mona_sees_the_patch_grid_and_the_class_token_passes_by():
    model = eva02(method=dict(type='Mona'))
    seen = mona_inputs(model, torch.randn(2, 3, 70, 42))
    assert seen and all(s == ((2, 15, C), (5, 3)) for s in seen)
    layer = model.layers[1]
    x = torch.randn(2, 1 + 15, C)
    with torch.no_grad():
        y = layer.run_module(layer.mona2, x, (5, 3))
    assert torch.equal(y[:, :1], x[:, :1])
    torch.testing.assert_close(y[:, 1:], layer.mona2(x[:, 1:], (5, 3)))


def test_full_fine_tuning_keeps_evas_k_without_bias():
    """trainable=None trains the whole ViT, but the k rows of the packed bias (EVA-02's k has no
    bias) get no gradient; patterns add parameters to the method's."""
    model = eva02(trainable=None)
    model.train()
    model(torch.randn(1, 3, 42, 56))[0].square().sum().backward()
    grad = model.layers[0].attn.qkv.bias.grad
    assert torch.all(grad[C:2 * C] == 0) and grad[:C].abs().sum() > 0 and grad[2 * C:].abs().sum()
    tables = PEFTEVA02(method=dict(type='Mona'), trainable=['pos_embed', 'cls_token'], **EVA)
    assert {n for n, p in tables.named_parameters()
            if p.requires_grad and 'mona' not in n} == {'pos_embed', 'cls_token'}


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='class token'):
        PEFTEVA02(with_cls_token=False, **EVA)
    with pytest.raises(ValueError, match='multiple of 4'):
        PEFTEVA02(**dict(EVA, arch=dict(ARCH, embed_dims=72, num_heads=4)))
    with pytest.raises(ValueError, match='frozen_stages'):
        PEFTEVA02(frozen_stages=1, **EVA)
    with pytest.raises(ValueError, match="out_type='featmap'"):
        PEFTEVA02(out_type='raw', **EVA)
    with pytest.raises(ValueError, match=r'\(\.\.\., 15, 16\) for the 5x3 grid'):
        EVA02RotaryEmbedding(HEAD_DIMS)(torch.randn(1, 4, 16, HEAD_DIMS), (5, 3))
