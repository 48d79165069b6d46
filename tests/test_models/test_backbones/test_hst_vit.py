"""HSTViT: parameter counts against the reference table, the trainable set, an independent
reference forward (timm-key weights, official resize-then-project order), gradients, checkpointing,
checkpoint loading and configuration errors."""
import math
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from mmpeft.checkpoint import CheckpointMismatchError
from mmpeft.models.backbones import HSTViT
from mmpeft.models.backbones.hst_vit import SIDE_ARCHS
from mmpeft.models.utils import count_parameters

from e2e_utils import TINY_HST

TINY = dict(TINY_HST, drop_path_rate=0., side_drop_path_rate=0.)  # ViT 48 wide, 4 blocks


def hst_formula(C: int, dims, depths, G: int = 1, num_layers: int = 12) -> int:
    """Trainable parameters from the module definitions of the official ViT_HSN (no head)."""
    d1 = dims[0]
    stem = 9 * 3 * d1 + 2 * d1 + (4 * d1 * d1 + d1) + 2 * d1
    embeds = sum(9 * a * b + b + 2 * b for a, b in zip(dims[:-1], dims[1:]))
    blocks = sum(n * (12 * d * d + 13 * d) for d, n in zip(dims, depths))
    stage_norms = sum(2 * d for d in dims)
    bridges = sum(C * d + d for d in dims)
    meta_norms = sum(n * 2 * d for d, n in zip(dims, depths))
    return (stem + embeds + blocks + stage_norms + bridges + meta_norms + num_layers * G * C
            + num_layers * 2 * 2 * C)


# --------------------------------------------------------------------------- counts
def test_classification_widths_have_764840_trainable_parameters():
    model = HSTViT(arch='b', side_arch='hst-cls')
    counts = count_parameters(model)
    assert counts['trainable'] == 764_840
    parts = {}
    for n, p in model.named_parameters():
        if p.requires_grad:
            key = ('vit_ln' if n.startswith('layers.') else
                   'meta_norm' if '.meta_norms.' in n else n.split('.')[0])
            parts[key] = parts.get(key, 0) + p.numel()
    assert parts == dict(vit_ln=36_864, meta_tokens=9_216, bridges=166_104, meta_norm=1_296,
                         side_stages=5_120 + 83_496 + 462_312 + 432)
    # the frozen ViT-B is timm's ViT-B/16 without the classifier and final norm
    assert counts['frozen'] == 86_567_656 - 768 * 1000 - 1000 - 1536 - 36_864


@pytest.mark.parametrize('side_arch,expected', [('hst-s', 3_964_736), ('hst-b', 14_932_608)])
def test_dense_widths_counts(side_arch, expected):
    model = HSTViT(arch='b', side_arch=side_arch)
    assert count_parameters(model)['trainable'] == expected
    assert expected == hst_formula(768, SIDE_ARCHS[side_arch]['embed_dims'], [3] * 4)


def test_vit_large_uses_every_block():
    model = HSTViT(arch='l', side_arch='hst-cls')
    assert model.side_depths == [6, 6, 6, 6]
    assert [len(s.blocks) for s in model.side_stages] == [6] * 4
    assert count_parameters(model)['trainable'] == hst_formula(
        1024, [32, 48, 64, 72], [6] * 4, num_layers=24)


@pytest.mark.parametrize('kw,match', [
    (dict(arch='l', side_depths=[3, 3, 3, 3]), 'sum to the ViT depth 24'),
    (dict(side_depths=[4, 4, 4]), '4 side stages'),
    (dict(side_arch='hst-xl'), "unknown side arch 'hst-xl'"),
    (dict(side_arch=dict(embed_dims=[30, 48, 64, 72], num_heads=[4, 4, 8, 12])), 'divisible'),
    (dict(arch=dict(embed_dims=64)), 'lacks'),
    (dict(pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth')), 'same time'),
    (dict(TINY, img_size=8), 'img_size=8 is smaller than patch_size=16'),
    (dict(TINY, num_meta_tokens=0), 'num_meta_tokens must be >= 1'),
])
def test_inconsistent_configs_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        HSTViT(**kw)


def test_upstream_argument_contracts():
    """As mmseg's ViT: pretrained must be a str (TypeError at construction); an init_cfg of an
    unsupported type is refused by init_weights with TypeError."""
    for bad in (123, ['a.pth']):
        with pytest.raises(TypeError, match='pretrained must be a str or None'):
            HSTViT(**TINY, pretrained=bad)
    model = HSTViT(**TINY, init_cfg=123)
    with pytest.raises(TypeError, match='init_cfg must be'):
        model.init_weights()
    with pytest.raises(OSError):
        HSTViT(**TINY, pretrained='PATH_THAT_DO_NOT_EXIST').init_weights()


def test_position_embedding_is_resized_by_grid_shape_not_token_count():
    """A 2x8 input grid has as many tokens as the 4x4 pretraining grid: it still gets its own
    bicubic interpolation (mmseg's ViT would reuse the 4x4 layout)."""
    torch.manual_seed(0)
    model = HSTViT(**TINY, img_size=64).eval()  # pretraining grid 4x4
    with torch.no_grad():
        model.pos_embed.normal_()
    C = model.pos_embed.shape[-1]
    tokens = torch.zeros(1, 1 + 16, C)
    out = model._pos_embeding(tokens, (2, 8), model.pos_embed)
    grid = model.pos_embed[:, 1:].reshape(1, 4, 4, C).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(2, 8), mode='bicubic', align_corners=False)
    expected = torch.cat([model.pos_embed[:, :1], resized.flatten(2).transpose(1, 2)], dim=1)
    torch.testing.assert_close(out, expected)
    assert (out - model.pos_embed).abs().max() > 0.1  # the unresized layout would be wrong
    # the pretraining grid itself is used as stored
    assert torch.equal(model._pos_embeding(tokens, (4, 4), model.pos_embed), model.pos_embed)


# --------------------------------------------------------------------------- trainable set
def test_trainable_set_is_side_network_bridges_meta_tokens_and_vit_layernorms():
    model = HSTViT(**TINY)
    model.init_weights()
    model.train()
    for n, p in model.named_parameters():
        expect = (n.startswith(('meta_tokens', 'side_stages.', 'bridges.'))
                  or (n.startswith('layers.') and ('.ln1.' in n or '.ln2.' in n)))
        assert p.requires_grad == expect, n
    assert HSTViT(**TINY, pretrained='x.pth').init_cfg == dict(type='Pretrained',
                                                                checkpoint='x.pth')
    frozen = {n.split('.')[0] for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {'cls_token', 'pos_embed', 'patch_embed', 'layers'}
    assert model.meta_tokens.shape == (4, 1, 48)
    assert model.side_stages[0].stem_conv.bn.training  # trainable BN of the stem


# --------------------------------------------------------------------------- reference forward
def timm_state(seed=0, C=48, L=4, grid=14, patch=16):
    """Random ViT weights in timm's key layout (what users load)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, s=0.05):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * s

    sd = OrderedDict(cls_token=r(1, 1, C), pos_embed=r(1, 1 + grid * grid, C))
    sd['patch_embed.proj.weight'] = r(C, 3, patch, patch)
    sd['patch_embed.proj.bias'] = r(C)
    for i in range(L):
        b = f'blocks.{i}.'
        sd[b + 'norm1.weight'], sd[b + 'norm1.bias'] = 1 + r(C), r(C)
        sd[b + 'attn.qkv.weight'], sd[b + 'attn.qkv.bias'] = r(3 * C, C), r(3 * C)
        sd[b + 'attn.proj.weight'], sd[b + 'attn.proj.bias'] = r(C, C), r(C)
        sd[b + 'norm2.weight'], sd[b + 'norm2.bias'] = 1 + r(C), r(C)
        sd[b + 'mlp.fc1.weight'], sd[b + 'mlp.fc1.bias'] = r(4 * C, C), r(4 * C)
        sd[b + 'mlp.fc2.weight'], sd[b + 'mlp.fc2.bias'] = r(C, 4 * C), r(C)
    sd['norm.weight'], sd['norm.bias'] = 1 + r(C), r(C)
    sd['head.weight'], sd['head.bias'] = r(10, C), r(10)
    return sd


def ref_vit_block(x, sd, i, heads):
    b = f'blocks.{i}.'
    B, N, C = x.shape
    h = F.layer_norm(x, (C, ), sd[b + 'norm1.weight'], sd[b + 'norm1.bias'], 1e-6)
    q, k, v = F.linear(h, sd[b + 'attn.qkv.weight'], sd[b + 'attn.qkv.bias']).reshape(
        B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    a = ((q @ k.transpose(-2, -1)) * (C // heads)**-0.5).softmax(-1)
    x = x + F.linear((a @ v).transpose(1, 2).reshape(B, N, C), sd[b + 'attn.proj.weight'],
                     sd[b + 'attn.proj.bias'])
    h = F.layer_norm(x, (C, ), sd[b + 'norm2.weight'], sd[b + 'norm2.bias'], 1e-6)
    h = F.linear(F.gelu(F.linear(h, sd[b + 'mlp.fc1.weight'], sd[b + 'mlp.fc1.bias'])),
                 sd[b + 'mlp.fc2.weight'], sd[b + 'mlp.fc2.bias'])
    return x + h


def ref_side_block(x, kv, vit, blk, heads):
    """Official M_Block with separate q/k/v (split from the packed projection)."""
    p = {n: t for n, t in blk.state_dict().items()}
    d = x.shape[-1]
    wq, wk, wv = p['attn.attn.in_proj_weight'].chunk(3)
    bq, bk, bv = p['attn.attn.in_proj_bias'].chunk(3)
    h = F.layer_norm(x, (d, ), p['ln1.weight'], p['ln1.bias'], 1e-6)
    B, N, _ = h.shape
    q = F.linear(h, wq, bq).reshape(B, N, heads, d // heads).transpose(1, 2)
    k = F.linear(kv, wk, bk).reshape(B, -1, heads, d // heads).transpose(1, 2)
    v = F.linear(kv, wv, bv).reshape(B, -1, heads, d // heads).transpose(1, 2)
    a = ((q * (d // heads)**-0.5) @ k.transpose(-2, -1)).softmax(-1)
    x = x + F.linear((a @ v).transpose(1, 2).reshape(B, N, d), p['attn.attn.out_proj.weight'],
                     p['attn.attn.out_proj.bias'])
    x = x + vit
    h = F.layer_norm(x, (d, ), p['ln2.weight'], p['ln2.bias'], 1e-6)
    h = F.linear(F.gelu(F.linear(h, p['ffn.layers.0.0.weight'], p['ffn.layers.0.0.bias'])),
                 p['ffn.layers.1.weight'], p['ffn.layers.1.bias'])
    return x + h


def reference_hst(img, sd, model, heads_vit=3):
    """ViT_HSN data flow written from the reference notes, independent of HSTViT.forward."""
    B, _, H, W = img.shape
    C = sd['cls_token'].shape[-1]
    x = F.conv2d(img, sd['patch_embed.proj.weight'], sd['patch_embed.proj.bias'], stride=16)
    gh, gw = x.shape[-2:]
    x = x.flatten(2).transpose(1, 2)
    pos = sd['pos_embed']
    g0 = int(math.isqrt(pos.shape[1] - 1))
    grid_pos = F.interpolate(pos[:, 1:].reshape(1, g0, g0, C).permute(0, 3, 1, 2), size=(gh, gw),
                             mode='bicubic', align_corners=False).flatten(2).transpose(1, 2)
    x = torch.cat([sd['cls_token'].expand(B, -1, -1), x], 1) + torch.cat([pos[:, :1], grid_pos], 1)
    metas, maps = [], []
    for i in range(len(model.layers)):
        x = torch.cat([model.meta_tokens[i][None].expand(B, -1, -1), x], 1)  # meta before CLS
        x = ref_vit_block(x, sd, i, heads_vit)
        metas.append(x[:, :1])
        maps.append(x[:, 2:].transpose(1, 2).reshape(B, C, gh, gw))
        x = x[:, 1:]
    outs, feat, i = [], img, 0
    for s, (stage, bridge) in enumerate(zip(model.side_stages, model.bridges)):
        if s == 0:
            feat = stage.stem_conv(feat)
        tokens, hw = stage.embed(feat)
        for j, blk in enumerate(stage.blocks):
            big = F.interpolate(maps[i], size=hw, mode='bilinear', align_corners=False)
            vit = bridge.proj(big.flatten(2).transpose(1, 2))  # official: resize, then project
            kv = torch.cat([bridge.meta_norms[j](bridge.proj(metas[i])), vit.mean(1, True)], 1)
            tokens = ref_side_block(tokens, kv, vit, blk, blk.attn.num_heads)
            i += 1
        tokens = stage.norm(tokens)
        feat = tokens.transpose(1, 2).reshape(B, -1, *hw)
        outs.append(feat)
    return outs


def tiny_loaded(tmp_path, seed=0, **kw):
    sd = timm_state(seed)
    path = str(tmp_path / 'vit_timm.pth')
    torch.save({'model': OrderedDict((k, v.float()) for k, v in sd.items())}, path)
    model = HSTViT(**dict(TINY, init_cfg=dict(type='Pretrained', checkpoint=path), **kw))
    model.init_weights()
    return model.double().eval(), sd


@pytest.mark.parametrize('size', [(64, 96), (224, 160)])
def test_matches_independent_reference(tmp_path, size):
    model, sd = tiny_loaded(tmp_path)
    sd = {k: v.float().double() for k, v in sd.items()}  # what the float32 file held
    img = torch.rand(2, 3, *size, dtype=torch.float64)
    with torch.no_grad():
        outs = model(img)
        ref = reference_hst(img, sd, model)
    H, W = size
    for s, (o, r) in enumerate(zip(outs, ref)):
        assert o.shape == (2, model.side_dims[s], H // 2**(s + 2), W // 2**(s + 2))
        assert torch.allclose(o, r, atol=1e-9), (s, (o - r).abs().max())


def test_meta_tokens_and_every_block_matter(tmp_path):
    model, _ = tiny_loaded(tmp_path)
    img = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        base = model(img)[0].clone()
        model.meta_tokens[3].add_(0.5)  # last ViT block -> last stage only
        out = model(img)
    assert torch.equal(out[0], base)
    with torch.no_grad():
        model.meta_tokens[0].add_(0.5)
        assert not torch.allclose(model(img)[0], base)


def test_gradients_reach_only_trainable_parameters_and_with_cp_is_exact(tmp_path):
    results = []
    for with_cp in (False, True):
        torch.manual_seed(0)  # same side-network init for both models
        model, _ = tiny_loaded(tmp_path, with_cp=with_cp)
        model.train()
        img = torch.rand(2, 3, 64, 64, dtype=torch.float64)
        sum((o**2).mean() for o in model(img)).backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        for n, p in model.named_parameters():
            if p.requires_grad:
                assert grads[n] is not None and grads[n].abs().sum() > 0, n
            else:
                assert grads[n] is None, n
        results.append(grads)
    for n, g in results[0].items():
        if g is not None:
            assert torch.allclose(g, results[1][n], rtol=1e-9, atol=1e-15), n


def test_input_size_must_be_multiple_of_32():
    model = HSTViT(**TINY).eval()
    with pytest.raises(ValueError, match='multiples of 32.*80x96'):
        model(torch.rand(1, 3, 80, 96))


# --------------------------------------------------------------------------- loading
def test_loads_timm_and_mmseg_layouts_and_resizes_pos_embed(tmp_path):
    model, sd = tiny_loaded(tmp_path)
    assert torch.equal(model.layers[2].attn.attn.in_proj_weight.float(),
                       sd['blocks.2.attn.qkv.weight'].float())
    assert torch.equal(model.layers[1].ffn.layers[1].weight.float(),
                       sd['blocks.1.mlp.fc2.weight'].float())
    # an mmseg-layout file with a 'backbone.' prefix (a detector checkpoint) loads the same
    path = str(tmp_path / 'det.pth')
    torch.save({'state_dict': {'backbone.' + k: v.float() for k, v in model.state_dict().items()}},
               path)
    other = HSTViT(**TINY, pretrained=path)
    other.init_weights()
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v.float()), k
    # a 384-px checkpoint (24x24 grid) is resized to the model's 14x14 grid
    big = OrderedDict((k, v.float()) for k, v in timm_state(1, grid=24).items())
    path = str(tmp_path / 'vit384.pth')
    torch.save(big, path)
    m384 = HSTViT(**TINY, pretrained=path)
    m384.init_weights()
    assert m384.pos_embed.shape == (1, 197, 48)
    assert torch.equal(m384.pos_embed[0, 0], big['pos_embed'][0, 0])


def test_bad_checkpoints_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError):
        m = HSTViT(**TINY, pretrained=str(tmp_path / 'nope.pth'))
        m.init_weights()
    swin = str(tmp_path / 'swin.pth')
    torch.save({'layers.0.blocks.0.attn.qkv.weight': torch.zeros(3, 3)}, swin)
    m = HSTViT(**TINY, pretrained=swin)
    with pytest.raises(CheckpointMismatchError, match='no ViT weights'):
        m.init_weights()
    npz = tmp_path / 'ViT-B_16.npz'
    npz.write_bytes(b'')
    with pytest.raises(CheckpointMismatchError, match='npz'):
        HSTViT(**TINY, pretrained=str(npz)).init_weights()
    wide = str(tmp_path / 'wide.pth')  # ViT of another width
    torch.save(OrderedDict((k, v.float()) for k, v in timm_state(0, C=60).items()), wide)
    with pytest.raises(CheckpointMismatchError, match='wrong shape'):
        HSTViT(**TINY, pretrained=wide).init_weights()
    half = str(tmp_path / 'half.pth')  # a ViT with half the blocks: most weights missing
    torch.save(OrderedDict((k, v.float()) for k, v in timm_state(0, L=1).items()), half)
    with pytest.raises(CheckpointMismatchError, match='only'):
        HSTViT(**TINY, pretrained=half).init_weights()


def test_random_init_reinitialises_side_network():
    torch.manual_seed(0)
    model = HSTViT(**TINY)
    model.init_weights()
    bound = (6.0 / (2 * 48))**0.5
    assert model.meta_tokens.abs().max() <= bound
    assert model.meta_tokens.std() > bound / 4  # xavier-uniform, not zeros or trunc_normal 0.02
    conv = model.side_stages[1].embed.projection
    assert conv.weight.std().item() == pytest.approx(
        (2.0 / (9 * conv.out_channels))**0.5, rel=0.15)


# --------------------------------------------------------------------------- official HST files
HST6 = dict(TINY, arch=dict(embed_dims=48, num_layers=6, num_heads=3), side_depths=[2, 1, 2, 1])
VIT_TO_TIMM = (  # mmseg ViT prefix -> timm prefix (official ViT_HSN keeps timm's ViT names)
    ('patch_embed.projection.', 'patch_embed.proj.'), ('ln1.', 'norm1.'), ('ln2.', 'norm2.'),
    ('attn.attn.in_proj_weight', 'attn.qkv.weight'), ('attn.attn.in_proj_bias', 'attn.qkv.bias'),
    ('attn.attn.out_proj.', 'attn.proj.'), ('ffn.layers.0.0.', 'mlp.fc1.'),
    ('ffn.layers.1.', 'mlp.fc2.'))


def official_hst_state(model: HSTViT, num_classes: int = 10) -> OrderedDict:
    """``model`` as the state dict of the official ``ViT_HSN`` (AFeng-x/HST names and shapes),
    built from HSTViT's module structure: the inverse of the loader's conversion, written apart
    from it. Every tensor of ``model`` is used exactly once."""
    sd, used, out = model.state_dict(), set(), OrderedDict()

    def put(official, ours, t=None):
        out[official] = (sd[ours] if t is None else t).clone()
        used.add(ours)

    for k in sd:
        if k in ('cls_token', 'pos_embed') or k.startswith(('patch_embed.', 'layers.')):
            new = k.replace('layers.', 'blocks.', 1)
            for a, b in VIT_TO_TIMM:
                new = new.replace(a, b)
            put(new, k)
    C = model.meta_tokens.shape[-1]
    for i in range(model.meta_tokens.shape[0]):  # ParameterList of (1, G, C)
        out[f'm_embeddings.{i}'] = sd['meta_tokens'][i:i + 1].clone()
    used.add('meta_tokens')
    block = 0
    for s, depth in enumerate(model.side_depths):
        n, st = s + 1, f'side_stages.{s}.'
        for p in ('weight', 'bias'):
            put(f'T_Bridge_{n}.{p}', f'bridges.{s}.proj.{p}')
            put(f'm_norm{n}.{p}', st + f'norm.{p}')
        for j in range(depth):
            block += 1  # m_proj_norm counts the ViT blocks from 1, across stages
            for p in ('weight', 'bias'):
                put(f'm_proj_norm{block}.{p}', f'bridges.{s}.meta_norms.{j}.{p}')
        if s == 0:  # Head: Conv(no bias), BN, ReLU, Conv -> conv.0, conv.1, conv.3; then norm
            put('m_patch_embed1.conv.0.weight', st + 'stem_conv.conv.weight')
            for p in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'):
                put(f'm_patch_embed1.conv.1.{p}', st + f'stem_conv.bn.{p}')
            for p in ('weight', 'bias'):
                put(f'm_patch_embed1.conv.3.{p}', st + f'embed.projection.{p}')
                put(f'm_patch_embed1.norm.{p}', st + f'embed.norm.{p}')
        else:
            for p in ('weight', 'bias'):
                put(f'm_patch_embed{n}.proj.{p}', st + f'embed.projection.{p}')
                put(f'm_patch_embed{n}.norm.{p}', st + f'embed.norm.{p}')
        for j in range(depth):
            o, b = f'm_block{n}.{j}.', st + f'blocks.{j}.'
            for p in ('weight', 'bias'):
                put(o + f'norm1.{p}', b + f'ln1.{p}')
                put(o + f'norm2.{p}', b + f'ln2.{p}')
                put(o + f'attn.proj.{p}', b + f'attn.attn.out_proj.{p}')
                put(o + f'mlp.fc1.{p}', b + f'ffn.layers.0.0.{p}')
                put(o + f'mlp.fc2.{p}', b + f'ffn.layers.1.{p}')
                packed = b + f'attn.attn.in_proj_{p}'
                for name, part in zip('qkv', sd[packed].chunk(3, dim=0)):
                    put(o + f'attn.{name}.{p}', packed, part)
    assert used == set(sd), sorted(set(sd) - used)
    # the official model's own extras: the ViT's final norm and the classifier (BatchNorm1d with
    # affine=False: running statistics only)
    d4 = model.side_dims[-1]
    out['norm.weight'], out['norm.bias'] = torch.ones(C), torch.zeros(C)
    out['fc_norm.running_mean'], out['fc_norm.running_var'] = torch.randn(d4), torch.rand(d4) + 1
    out['fc_norm.num_batches_tracked'] = torch.tensor(100)
    out['head.weight'], out['head.bias'] = torch.randn(num_classes, d4), torch.randn(num_classes)
    return out


def randomised_hst(cfg: dict, seed: int = 0) -> HSTViT:
    """An HSTViT whose every tensor (side network, BN statistics and ViT included) differs from any
    initialisation: it stands in for a trained official model."""
    torch.manual_seed(seed)
    model = HSTViT(**cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, t in model.state_dict().items():
            if n.endswith('num_batches_tracked'):
                t.fill_(37)
            elif n.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.add_(torch.randn(t.shape, generator=g) * 0.1)
    return model.eval()


def save_official(model: HSTViT, path) -> str:
    # what the official (timm) trainer writes: the weights under 'state_dict', plus metadata
    torch.save({'epoch': 99, 'arch': 'vit_base_patch16_224_in21k',
                'state_dict': official_hst_state(model)}, str(path))
    return str(path)


def test_official_hst_state_has_the_official_names_and_shapes():
    """The test's official file: per-block (1, G, C) meta tokens, separate q/k/v, Head's conv
    indices, m_proj_norm numbered by ViT block with its stage's width."""
    model = randomised_hst(HST6)
    sd = official_hst_state(model)
    assert sd['m_embeddings.5'].shape == (1, 1, 48) and 'm_embeddings.6' not in sd
    assert sd['m_block3.1.attn.q.weight'].shape == (32, 32)
    assert sd['m_block3.1.attn.v.bias'].shape == (32, )
    assert sd['m_patch_embed1.conv.0.weight'].shape == (16, 3, 3, 3)
    assert 'm_patch_embed1.conv.0.bias' not in sd
    assert sd['m_patch_embed1.conv.3.weight'].shape == (16, 16, 2, 2)
    assert sd['m_patch_embed2.proj.weight'].shape == (24, 16, 3, 3)
    assert sd['T_Bridge_4.weight'].shape == (40, 48)
    # side depths [2, 1, 2, 1]: ViT blocks 1-2 -> stage 1, 3 -> 2, 4-5 -> 3, 6 -> 4
    assert [sd[f'm_proj_norm{i}.weight'].shape[0] for i in range(1, 7)] == [16, 16, 24, 32, 32, 40]
    assert sd['blocks.5.attn.qkv.weight'].shape == (144, 48)
    assert not any(k.startswith(('meta_tokens', 'bridges.', 'side_stages.', 'layers.')) for k in sd)


def test_official_hst_checkpoint_loads_the_whole_model(tmp_path):
    source = randomised_hst(HST6, seed=0)
    path = save_official(source, tmp_path / 'hst_official.pth')
    torch.manual_seed(1)
    model = HSTViT(**HST6, init_cfg=dict(type='Pretrained', checkpoint=path))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights()
    report = model.pretrained_report
    assert report.notes['layout'] == 'hst-official'
    assert report.notes['side_network'] is True
    assert report.missing == [] and report.unexpected == []
    # the classifier and the ViT's final norm are reported unused and never loaded
    assert sorted(report.notes['unused']) == [
        'fc_norm.num_batches_tracked', 'fc_norm.running_mean', 'fc_norm.running_var',
        'head.bias', 'head.weight', 'norm.bias', 'norm.weight']
    assert not any(k.startswith(('head', 'fc_norm', 'norm.')) for k in report.loaded)
    ours = model.state_dict()
    assert set(report.loaded) == set(ours)
    for k, v in source.state_dict().items():
        assert torch.equal(ours[k], v), k
        if k.startswith(HSTViT.NEW_PREFIXES):
            assert not torch.equal(before[k], v), k  # the file changed it: not left at init
    # still the HST trainable set after loading
    assert count_parameters(model) == count_parameters(source)
    img = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        for a, b in zip(model.eval()(img), source(img)):
            assert torch.equal(a, b)


def test_official_hst_checkpoint_of_another_side_network_is_refused(tmp_path):
    wider = dict(HST6, side_arch=dict(embed_dims=[16, 24, 32, 48], num_heads=[1, 2, 4, 4]))
    path = save_official(randomised_hst(wider), tmp_path / 'wide.pth')
    with pytest.raises(CheckpointMismatchError) as err:
        HSTViT(**HST6, pretrained=path).init_weights()
    msg = str(err.value)
    assert 'wide.pth carries a side network that does not fit HSTViT' in msg
    assert 'checkpoint widths [16, 24, 32, 48]' in msg and 'model widths [16, 24, 32, 40]' in msg
    assert 'bridges.3.proj.weight: checkpoint (48, 48) vs model (40, 48)' in msg
    assert 'side_arch' in msg
    # same widths, other blocks per stage: the meta norms would land in other stages
    regrouped = dict(HST6, side_depths=[1, 2, 2, 1])
    path = save_official(randomised_hst(regrouped), tmp_path / 'regrouped.pth')
    with pytest.raises(CheckpointMismatchError,
                       match=r'blocks per stage \[1, 2, 2, 1\].*blocks per stage \[2, 1, 2, 1\]'):
        HSTViT(**HST6, pretrained=path).init_weights()
    # the same check for a side network in mmpeft's own layout
    path = str(tmp_path / 'mmpeft_wide.pth')
    torch.save({'state_dict': randomised_hst(wider).state_dict()}, path)
    with pytest.raises(CheckpointMismatchError, match='does not fit HSTViT'):
        HSTViT(**HST6, pretrained=path).init_weights()


def test_incomplete_official_hst_checkpoint_is_refused(tmp_path):
    sd = official_hst_state(randomised_hst(HST6))
    del sd['m_block2.0.attn.k.bias']
    path = str(tmp_path / 'no_k.pth')
    torch.save(sd, path)
    with pytest.raises(CheckpointMismatchError, match=r'm_block2\.0\.attn lacks the bias of k'):
        HSTViT(**HST6, pretrained=path).init_weights()
    sd = official_hst_state(randomised_hst(HST6))
    del sd['m_block4.0.norm1.weight']
    torch.save(sd, path)
    with pytest.raises(CheckpointMismatchError,
                       match=r'1 missing: side_stages\.3\.blocks\.0\.ln1\.weight'):
        HSTViT(**HST6, pretrained=path).init_weights()


def test_vit_only_checkpoint_leaves_the_side_network_at_init(tmp_path):
    """The guard of the tests above: a plain timm ViT file loads no side network."""
    _, sd = tiny_loaded(tmp_path)
    model = HSTViT(**TINY, pretrained=str(tmp_path / 'vit_timm.pth'))
    init = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights()
    assert model.pretrained_report.notes['layout'] == 'timm'
    assert model.pretrained_report.notes['side_network'] is False
    assert 'head.weight' in model.pretrained_report.notes['unused']
    for k, v in model.state_dict().items():
        if k.startswith(HSTViT.NEW_PREFIXES):
            assert torch.equal(v, init[k]), k


def test_hst_configs_do_not_decay_1d_parameters_and_biases():
    """As the official optimiser: weight decay only on parameters with more than one dimension
    that are not biases (the 3-D meta tokens are decayed)."""
    import glob
    import os.path as osp

    import torch.nn as nn
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    from e2e_utils import CONFIGS
    paths = sorted(glob.glob(osp.join(CONFIGS, 'hst', '*.py')))
    assert len(paths) == 5
    for path in paths:
        cfg = Config.fromfile(path).optim_wrapper
        cfg = dict(cfg, type='OptimWrapper')
        cfg.pop('loss_scale', None)
        model = nn.Module()
        model.backbone = HSTViT(**TINY)
        optim = build_optim_wrapper(model, cfg).optimizer
        base = cfg['optimizer']['weight_decay']
        names = {id(p): n for n, p in model.named_parameters()}
        seen = 0
        for group in optim.param_groups:
            for p in group['params']:
                if not p.requires_grad:
                    continue
                n = names[id(p)]
                no_decay = p.ndim <= 1 or n.endswith('bias')
                assert group['weight_decay'] == (0.0 if no_decay else base), (path, n)
                seen += 1
        assert seen > 50 and 'backbone.meta_tokens' in names.values()
