"""Convpass: the official formulas (ViT with its class token, Swin), re-implemented here from their
description, on the module's own tensors; its two bypass sites in the block forward (fed the
normed tokens, each with its own drop-path draw), the class token of a ViT, non-square Swin maps,
and the reference counts."""
import pytest
import torch
import torch.nn.functional as F
from peft_swin_cases import SWIN_B, SWIN_L

import mmpeft  # noqa: F401
from mmpeft.models.backbones import PEFTSwinTransformer, PEFTViT
from mmpeft.models.peft import Convpass, Site
from mmpeft.models.utils import count_parameters


def qgelu(x):
    return x * torch.sigmoid(1.702 * x)


def ref_convpass_vit(m: Convpass, x, side: int):
    """The official ViT ``Convpass.forward``: class token first, a ``side x side`` patch map."""
    b = x.shape[0]
    z = qgelu(m.adapter_down(x))
    p = m.adapter_conv(z[:, 1:].reshape(b, side, side, m.dim).permute(0, 3, 1, 2))
    p = p.permute(0, 2, 3, 1).reshape(b, side * side, m.dim)
    c = m.adapter_conv(z[:, :1].reshape(b, 1, 1, m.dim).permute(0, 3, 1, 2))
    c = c.permute(0, 2, 3, 1).reshape(b, 1, m.dim)
    return m.adapter_up(m.dropout(qgelu(torch.cat([c, p], dim=1)))) * m.scale


def ref_convpass_swin(m: Convpass, x):
    """The official ``Convpass_swin.forward`` (square maps only: H = sqrt(N))."""
    b, n, _ = x.shape
    h = int(n ** 0.5)
    z = m.adapter_down(x).reshape(b, h, h, m.dim).permute(0, 3, 1, 2)
    z = m.adapter_conv(qgelu(z)).permute(0, 2, 3, 1).reshape(b, -1, m.dim)
    return m.adapter_up(m.dropout(qgelu(z))) * m.scale


def randomised(m: Convpass) -> Convpass:
    torch.manual_seed(1)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
    return m.double().eval()


def test_convpass_init_and_count():
    m = Convpass(40)
    assert sum(p.numel() for p in m.parameters()) == 17 * 40 + 592
    assert not m.adapter_up.weight.any() and not m.adapter_up.bias.any()
    k = m.adapter_conv.weight
    assert torch.equal(k[:, :, 1, 1], torch.eye(8)) and k.abs().sum() == 8
    assert not m.adapter_down.bias.any() and m.adapter_down.weight.abs().sum() > 0
    x = Convpass(40, xavier_init=True).adapter_conv.weight
    assert x[:, :, 0, 0].abs().sum() > 0
    assert m(torch.randn(2, 6, 40), (2, 3)).abs().sum() == 0  # adds nothing at the start


def test_convpass_matches_the_official_vit_and_swin_formulas_and_gradients():
    m = randomised(Convpass(24, scale=0.7))
    x = torch.randn(2, 1 + 16, 24, dtype=torch.float64, requires_grad=True)
    out, ref = m(x, (4, 4)), ref_convpass_vit(m, x, 4)  # the class token as a 1x1 map
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)
    w = torch.randn_like(out)
    for g, r in zip(torch.autograd.grad((out * w).sum(), [x, *m.parameters()]),
                    torch.autograd.grad((ref * w).sum(), [x, *m.parameters()])):
        torch.testing.assert_close(g, r, atol=1e-10, rtol=1e-10)
    y = torch.randn(2, 25, 24, dtype=torch.float64)
    torch.testing.assert_close(m(y, (5, 5)), ref_convpass_swin(m, y), atol=1e-10, rtol=1e-10)


def test_convpass_non_square_maps():
    """The reference only handles square maps; here any (H, W): a 3x3 convolution computed
    independently (unfold) on the 3 x 5 map."""
    m = randomised(Convpass(16))
    x = torch.randn(2, 15, 16, dtype=torch.float64)
    z = qgelu(m.adapter_down(x)).transpose(1, 2).reshape(2, 8, 3, 5)
    cols = F.unfold(z, 3, padding=1)  # (2, 72, 15)
    conv = m.adapter_conv.weight.reshape(8, 72) @ cols + m.adapter_conv.bias[:, None]
    ref = m.adapter_up(qgelu(conv.transpose(1, 2)))
    torch.testing.assert_close(m(x, (3, 5)), ref, atol=1e-10, rtol=1e-10)
    with pytest.raises(ValueError, match='tokens'):
        m(x, (4, 5))


def tiny_swin_block(**method):
    torch.manual_seed(0)
    model = PEFTSwinTransformer(embed_dims=16, depths=(1, ), num_heads=(1, ), window_size=4,
                                out_indices=(0, ), drop_path_rate=0.0,
                                method=dict(type='Convpass', **method))
    block = model.stages[0].blocks[0]
    for m in (m for m in block.modules() if isinstance(m, Convpass)):
        with torch.no_grad():
            for p in m.parameters():
                p.normal_(0, 0.3)
    return block


def test_bypasses_sit_beside_attention_and_ffn_fed_the_normed_tokens():
    block = tiny_swin_block(scale=0.5).eval()
    assert block.peft_sites == {Site.ATTN_BYPASS: 'adapter_attn', Site.FFN_BYPASS: 'adapter_mlp'}
    x, hw = torch.randn(2, 20, 16), (4, 5)
    with torch.no_grad():
        h = block.norm1(x)
        x1 = x + block.attn(h, hw) + block.adapter_attn(h, hw)
        h = block.norm2(x1)
        ref = x1 + block.ffn(h) + block.adapter_mlp(h, hw)
        torch.testing.assert_close(block(x, hw), ref)
    attn_only = tiny_swin_block(attn_only=True)
    assert attn_only.peft_sites == {Site.ATTN_BYPASS: 'adapter_attn'}


@pytest.mark.parametrize('half', ['attn', 'ffn'])
def test_each_bypass_has_its_own_drop_path_draw(half):
    """Train mode, drop-path 0.5 and the other half silenced: every sample's output is one of
    x, x + 2a, x + 2m, x + 2a + 2m (a: the branch, m: its bypass), and all four occur."""
    block = tiny_swin_block().train()
    other = block.adapter_mlp if half == 'attn' else block.adapter_attn
    silenced = block.ffn.layers[1] if half == 'attn' else block.attn.w_msa.proj
    with torch.no_grad():
        for p in (*other.adapter_up.parameters(), *silenced.parameters()):
            p.zero_()
        for dp in (block.drop_path_attn, block.drop_path_ffn):
            dp.drop_prob = 0.5
    bypass = block.adapter_attn if half == 'attn' else block.adapter_mlp
    bypass.dropout.p = 0.0
    x, hw = torch.randn(64, 16, 16), (4, 4)
    torch.manual_seed(3)
    with torch.no_grad():
        out = block(x, hw)
        if half == 'attn':
            h = block.norm1(x)
            a, m = block.attn(h, hw), bypass(h, hw)
        else:
            h = block.norm2(x)
            a, m = block.ffn(h), bypass(h, hw)
    seen = set()
    for i in range(64):
        found = [(ka, km) for ka in (0, 1) for km in (0, 1)
                 if torch.allclose(out[i], x[i] + 2 * ka * a[i] + 2 * km * m[i], atol=1e-5)]
        assert found, f'sample {i} is no drop-path combination'
        seen.add(found[0])
    assert seen == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_vit_class_token_goes_through_the_bypass():
    torch.manual_seed(0)
    model = PEFTViT(arch=dict(embed_dims=24, num_layers=1, num_heads=2, feedforward_channels=48),
                    patch_size=16, img_size=64, out_indices=(0, ), layer_scale_init_value=0.,
                    method=dict(type='Convpass')).eval()
    layer = model.layers[0]
    for m in (layer.adapter_attn, layer.adapter_mlp):
        with torch.no_grad():
            for p in m.parameters():
                p.normal_(0, 0.3)
    x, hw = torch.randn(2, 1 + 12, 24), (3, 4)
    with torch.no_grad():
        h = layer.ln1(x)
        x1 = x + layer.attn_branch(h, hw) + layer.adapter_attn(h, hw)
        h = layer.ln2(x1)
        ref = x1 + layer.ffn_branch(h) + layer.adapter_mlp(h, hw)
        out = layer(x, hw)
    torch.testing.assert_close(out, ref)
    # and the class token's bypass is the official 1x1 map (so is a 1x1 patch map): centre tap
    with torch.no_grad():
        out = layer.adapter_attn(h[:, :2], (1, 1))
        ref = ref_convpass_vit(layer.adapter_attn, h[:, :2], 1)
        z = qgelu(layer.adapter_attn.adapter_down(h[:, :1]))
        k = layer.adapter_attn.adapter_conv
        ref_cls = layer.adapter_attn.adapter_up(qgelu(z @ k.weight[:, :, 1, 1].t() + k.bias))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(out[:, :1], ref_cls)


@pytest.mark.parametrize('arch,expected', [(SWIN_B, 437_504), (SWIN_L, 642_048)])
def test_convpass_swin_counts_are_the_references(arch, expected):
    model = PEFTSwinTransformer(**arch, method=dict(type='Convpass'))
    assert count_parameters(model)['trainable'] == expected


def test_convpass_vit_b_count_is_the_reference():
    model = PEFTViT(arch='base', patch_size=16, img_size=224, method=dict(type='Convpass'))
    assert count_parameters(model)['trainable'] == 327_552
