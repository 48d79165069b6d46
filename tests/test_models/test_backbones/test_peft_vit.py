"""PEFTViT / PEFTSAMViT: the methods in mmpretrain's plain ViTs (DINOv2, CLIP, SAM).

The reference below is written from the official formulas (DINOv2's ``prepare_tokens_with_masks``
and ``interpolate_pos_encoding``, a pre-norm block with layer scale, the Mona / LoRA /
AdaptFormer / Adapter papers' placements), independently of mmpretrain's and mmpeft's modules: it
reads only the parameters, by name.
"""
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from mmpeft.models.backbones import PEFTSAMViT, PEFTViT
from mmpeft.models.backbones.peft_vit import _sam, _vit, needs_token_map
from mmpeft.models.peft import Mona
from mmpeft.models.utils import count_parameters

from e2e_utils import REPO, random_weights

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
# DINOv2-style: patch 14, layer scale, a 4x4 position table, the last layer's normed map
DINO = dict(arch=ARCH, patch_size=14, img_size=56, layer_scale_init_value=1e-5,
            interpolate_offset=0.1, out_indices=(1, ))
SAM = dict(arch=dict(ARCH, global_attn_indexes=[1]), patch_size=16, img_size=64, window_size=2,
           out_channels=16, out_indices=(1, ))
METHODS = ('Mona', 'LoRA', 'Adapter', 'AdaptFormer')
C = ARCH['embed_dims']
# per layer, C = 32, inner width 64 (Mona 133 C + 9728 twice; LoRA 2 r (C + C); Adapter twice
# and AdaptFormer once 129 C + 64)
PER_LAYER = {'Mona': 2 * (133 * C + 9728), 'LoRA': 2 * 64 * (C + C), 'Adapter': 2 * (129 * C + 64),
             'AdaptFormer': 129 * C + 64}


# ------------------------------------------------------------------------------ reference
def official_pos_embed(pos: torch.Tensor, h: int, w: int, offset: float,
                       antialias: bool) -> torch.Tensor:
    """DINOv2's ``interpolate_pos_encoding`` for an (h, w) patch grid."""
    n = pos.shape[1] - 1
    m = int(math.sqrt(n))
    if n == h * w and h == w:
        return pos
    kw = (dict(scale_factor=((h + offset) / m, (w + offset) / m)) if offset else
          dict(size=(h, w)))
    grid = F.interpolate(pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2).float(),
                         mode='bicubic', antialias=antialias, **kw)
    assert grid.shape[-2:] == (h, w)
    return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], dim=1)


def ref_mona(p: dict, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Mona as the official code computes it (eval: no dropout)."""
    z = F.layer_norm(x, (x.shape[-1], ), p['norm.weight'], p['norm.bias']) * p['gamma']
    z = F.linear(z + x * p['gammax'], p['project1.weight'], p['project1.bias'])
    b, n, d = z.shape
    z = z.reshape(b, h, w, d).permute(0, 3, 1, 2)
    convs = [F.conv2d(z, p[f'adapter_conv.conv{i}.weight'], p[f'adapter_conv.conv{i}.bias'],
                      padding=k // 2, groups=d) for i, k in ((1, 3), (2, 5), (3, 7))]
    z = sum(convs) / 3.0 + z
    z = F.conv2d(z, p['adapter_conv.projector.weight'], p['adapter_conv.projector.bias']) + z
    z = F.gelu(z.permute(0, 2, 3, 1).reshape(b, n, d))
    return x + F.linear(z, p['project2.weight'], p['project2.bias'])


def ref_mlp(p: dict, x: torch.Tensor) -> torch.Tensor:
    return F.linear(F.gelu(F.linear(x, p['project1.weight'], p['project1.bias'])),
                    p['project2.weight'], p['project2.bias'])


def mona_inputs(model: torch.nn.Module, x: torch.Tensor) -> list:
    """``(token shape, grid)`` of every Mona call while ``model`` runs on ``x``."""
    seen = []
    handles = [m.register_forward_hook(lambda mod, args, out: seen.append(
        (tuple(args[0].shape), tuple(args[1])))) for m in model.modules() if isinstance(m, Mona)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return seen


def sub(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def ref_block(p: dict, x: torch.Tensor, h: int, w: int, k: int, method: str,
              heads: int) -> torch.Tensor:
    """A pre-norm block with layer scale and the method; ``k`` extra tokens lead ``x``."""
    def ln(t, name):
        return F.layer_norm(t, (t.shape[-1], ), p[f'{name}.weight'], p[f'{name}.bias'], 1e-6)

    def around_patches(fn, t):  # a map module sees the patches; extra tokens unchanged
        return torch.cat([t[:, :k], fn(t[:, k:])], dim=1)

    b, n, c = x.shape
    wq = p['attn.qkv.weight']
    if method == 'LoRA':  # q and v slots: B_s A_s / rank (alpha 1, rank 64)
        a, bb = p['attn.qkv.lora_A'], p['attn.qkv.lora_B']
        delta = torch.zeros_like(wq)
        delta[:c] = bb[:c] @ a[:64] / 64
        delta[2 * c:] = bb[c:] @ a[64:] / 64
        wq = wq + delta
    qkv = F.linear(ln(x, 'ln1'), wq, p['attn.qkv.bias']).reshape(b, n, 3, heads, c // heads)
    q, kk, v = qkv.permute(2, 0, 3, 1, 4)
    att = ((q @ kk.transpose(-2, -1)) / math.sqrt(c // heads)).softmax(-1)
    y = F.linear((att @ v).transpose(1, 2).reshape(b, n, c), p['attn.proj.weight'],
                 p['attn.proj.bias']) * p['attn.gamma1.weight']
    if method == 'Adapter':
        y = y + ref_mlp(sub(p, 'adapter1.'), y)
    x = x + y
    if method == 'Mona':
        x = around_patches(lambda t: ref_mona(sub(p, 'mona1.'), t, h, w), x)
    f = F.linear(F.gelu(F.linear(ln(x, 'ln2'), p['ffn.layers.0.0.weight'],
                                 p['ffn.layers.0.0.bias'])),
                 p['ffn.layers.1.weight'], p['ffn.layers.1.bias']) * p['ffn.gamma2.weight']
    if method == 'Adapter':
        f = f + ref_mlp(sub(p, 'adapter2.'), f)
    out = x + f
    if method == 'AdaptFormer':
        out = out + 0.1 * ref_mlp(sub(p, 'adapter.'), x)
    if method == 'Mona':
        out = around_patches(lambda t: ref_mona(sub(p, 'mona2.'), t, h, w), out)
    return out


def ref_dinov2(model: PEFTViT, img: torch.Tensor, method: str) -> torch.Tensor:
    """The official DINOv2 forward (registers after the position embedding), the method in
    every block, the final norm and the patch map."""
    p = {k: v.detach() for k, v in model.state_dict().items()}
    s = model.patch_embed.projection.stride[0]
    img = F.pad(img, (0, -img.shape[-1] % s, 0, -img.shape[-2] % s))
    x = F.conv2d(img, p['patch_embed.projection.weight'], p['patch_embed.projection.bias'],
                 stride=s)
    b, c, h, w = x.shape
    x = torch.cat([p['cls_token'].expand(b, -1, -1), x.flatten(2).transpose(1, 2)], dim=1)
    x = x + official_pos_embed(p['pos_embed'], h, w, model.interpolate_offset,
                               model.interpolate_antialias)
    r = model.num_register_tokens
    if r:
        x = torch.cat([x[:, :1], p['register_tokens'].expand(b, -1, -1), x[:, 1:]], dim=1)
    for i in range(model.num_layers):
        x = ref_block(sub(p, f'layers.{i}.'), x, h, w, 1 + r, method, ARCH['num_heads'])
    x = F.layer_norm(x, (c, ), p['ln1.weight'], p['ln1.bias'], 1e-6)
    return x[:, 1 + r:].reshape(b, h, w, c).permute(0, 3, 1, 2)


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('registers', [0, 4])
def test_dinov2_equals_the_reference(method, registers):
    """Every method in a DINOv2-style ViT (with and without registers, offset or antialiased
    interpolation) at a non-square, non-divisible input equals the official formulas."""
    cfg = dict(DINO, num_register_tokens=registers)
    if registers:
        cfg.update(interpolate_offset=0., interpolate_antialias=True)
    model = random_weights(PEFTViT(method=dict(type=method), **cfg))
    img = torch.randn(2, 3, 61, 100)  # grid 5 x 8 after padding to 70 x 112
    with torch.no_grad():
        out = model(img)
        ref = ref_dinov2(model, img, method)
    assert len(out) == 1 and out[0].shape == (2, C, 5, 8)
    torch.testing.assert_close(out[0], ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('method', METHODS)
def test_counts_and_only_the_method_trains(method):
    model = PEFTViT(method=dict(type=method), num_register_tokens=4, **DINO)
    counts = count_parameters(model)
    assert counts['trainable'] == ARCH['num_layers'] * PER_LAYER[method]
    model.train()
    model(torch.randn(1, 3, 42, 56))[0].square().sum().backward()
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert trained == with_grad
    assert all(n.startswith('layers.') for n in trained)
    assert all(('lora_' in n) if method == 'LoRA' else ('.mona' in n or '.adapter' in n)
               for n in trained)


def test_trainable_none_is_full_fine_tuning_and_patterns_add():
    full = PEFTViT(trainable=None, **DINO)
    assert count_parameters(full)['frozen'] == 0
    floor = PEFTViT(**DINO)
    assert count_parameters(floor)['trainable'] == 0
    tables = PEFTViT(method=dict(type='Mona'), trainable=['pos_embed', 'cls_token'], **DINO)
    extra = {n for n, p in tables.named_parameters() if p.requires_grad and 'mona' not in n}
    assert extra == {'pos_embed', 'cls_token'}
    with pytest.raises(ValueError, match='frozen_stages'):
        PEFTViT(frozen_stages=1, **DINO)


def test_mona_sees_the_patch_grid_and_extra_tokens_pass_by():
    model = random_weights(PEFTViT(method=dict(type='Mona'), num_register_tokens=4, **DINO))
    seen = mona_inputs(model, torch.randn(2, 3, 70, 42))
    assert seen and all(s == ((2, 15, C), (5, 3)) for s in seen)
    # at the site: the five extra tokens come out untouched, the patches are Mona's output
    layer = model.layers[0]
    x = torch.randn(2, 5 + 15, C)
    with torch.no_grad():
        y = layer.run_module(layer.mona1, x, (5, 3))
        yn, hn = layer.run_module_with_norm(layer.mona1, x, (5, 3), layer.ln2)
    assert torch.equal(y[:, :5], x[:, :5])
    torch.testing.assert_close(y[:, 5:], layer.mona1(x[:, 5:], (5, 3)))
    torch.testing.assert_close(yn, y)
    torch.testing.assert_close(hn, layer.ln2(y))
    assert needs_token_map(layer.mona1)
    adapter = PEFTViT(method=dict(type='AdaptFormer'), **DINO).layers[0].adapter
    assert not needs_token_map(adapter)  # token-wise modules see every token


def test_pos_embed_by_grid_shape_as_dinov2():
    """Non-square grids, and a grid of the table's token count but another shape, get their own
    interpolation: DINOv2's offset scale factors, or antialiased for the register models."""
    for offset, antialias in ((0.1, False), (0., True), (0., False)):
        model = random_weights(PEFTViT(**dict(DINO, interpolate_offset=offset,
                                         interpolate_antialias=antialias)))
        pos = model.pos_embed.detach()
        for hw in ((5, 3), (3, 5), (2, 8), (4, 4), (7, 7)):
            got = model.pos_embed_for(hw).detach()
            torch.testing.assert_close(got, official_pos_embed(pos, *hw, offset, antialias))
        assert model.pos_embed_for((2, 8)).shape == pos.shape  # 16 tokens, other shape
        assert not torch.allclose(model.pos_embed_for((2, 8)), pos)
        assert model.pos_embed_for((4, 4)) is model.pos_embed
    # the three settings differ off the grid
    pos = torch.randn(1, 17, C)
    offset, antialias, plain = (official_pos_embed(pos, 5, 3, o, a) for o, a in (
        (0.1, False), (0., True), (0., False)))
    assert not torch.allclose(offset, plain) and not torch.allclose(antialias, plain)


@pytest.mark.parametrize('family', ['vit', 'sam'])
def test_without_a_method_equals_mmpretrain(family):
    """The PEFT blocks without modules compute mmpretrain's own layers (ViT with layer scale and
    drop-path, SAM with windows, relative positions and its channel reduction)."""
    if family == 'vit':  # offset 0: mmpretrain's plain bicubic resize, at every grid
        model = random_weights(PEFTViT(**dict(DINO, interpolate_offset=0.)))
        ref = _vit.VisionTransformer(arch=ARCH, patch_size=14, img_size=56,
                                     layer_scale_init_value=1e-5, out_type='featmap',
                                     out_indices=[1])
    else:
        model = random_weights(PEFTSAMViT(**SAM))
        ref = _sam.ViTSAM(**dict(SAM, out_indices=[1]))
    ref.load_state_dict(model.state_dict())
    ref.eval()
    img = torch.randn(2, 3, 61, 100)
    with torch.no_grad():
        torch.testing.assert_close(model(img)[0], ref(img)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('method', METHODS)
def test_sam_trains_only_the_method(method):
    model = PEFTSAMViT(method=dict(type=method), **SAM)
    assert count_parameters(model)['trainable'] == ARCH['num_layers'] * PER_LAYER[method]
    model.train()
    out = model(torch.randn(1, 3, 80, 48))[0]
    assert out.shape == (1, 16, 5, 3)
    out.sum().backward()
    assert {n for n, p in model.named_parameters() if p.grad is not None} == {
        n for n, p in model.named_parameters() if p.requires_grad}


def test_with_cp_same_outputs_and_gradients():
    torch.manual_seed(0)
    a = random_weights(PEFTViT(method=dict(type='Mona', dropout=0.), **DINO))
    b = PEFTViT(method=dict(type='Mona', dropout=0., with_cp=True), with_cp=True, **DINO)
    b.load_state_dict(a.state_dict())
    img = torch.randn(1, 3, 42, 56)
    grads = []
    for m in (a, b):
        m.train()
        for layer in m.layers:
            layer.drop_path_attn.eval()
            layer.drop_path_ffn.eval()
        m(img)[0].square().sum().backward()
        grads.append({n: p.grad for n, p in m.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], rtol=1e-4, atol=1e-6)


def test_builds_from_configs_without_torchvision():
    """mmpretrain's backbones import without torchvision (PyPI's is a CUDA build that does not
    import beside a CPU torch): PEFTViT, and mmpretrain's own types by their scoped name."""
    code = '\n'.join([
        'import sys',
        "sys.modules['torchvision'] = None  # import torchvision now fails",
        'import mmpeft',
        'from mmengine.registry import MODELS, init_default_scope',
        "init_default_scope('mmdet')",
        f'arch = {ARCH!r}',
        "act = dict(type='mmpretrain.QuickGELU')",
        "m = MODELS.build(dict(type='PEFTViT', arch=arch, patch_size=14, img_size=56,"
        "    method=dict(type='Mona'), layer_cfgs=dict(act_cfg=act)))",
        "v = MODELS.build(dict(type='mmpretrain.VisionTransformer', arch=arch))",
        "assert type(m.layers[0].ffn.layers[0][1]).__name__ == 'QuickGELU'",
        "print('built', type(m).__name__, type(v).__name__)",
    ])
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'built PEFTViT VisionTransformer' in out.stdout
