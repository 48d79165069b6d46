"""SSF, FacT and KAdaptation in the foundation-ViT family (PEFTViT): trainable counts at ViT-B,
SSF's timm ViT checkpoints (``{'state_dict', ..., 'args': argparse.Namespace}``) loading through
``init_cfg`` and computing SSF's ViT formula (an independent forward, written here), merging and
folding, the safe loader still refusing other pickled objects; PETL-ViT's FacT and Convpass files
(method tensors only) loading beside the ViT's own file, Convpass computing its formula."""
import argparse

import pytest
import torch
import torch.nn.functional as F

from mmpeft.compat import UnsafeCheckpointError
from mmpeft.models.backbones import PEFTViT
from mmpeft.models.backbones.peft_block import fold_method
from mmpeft.models.peft import SSF, WrappingModule

from e2e_utils import TINY_PEFT_VIT

VIT_B = dict(arch='base', patch_size=16, img_size=224, out_indices=(11, ))
C, HEADS, LAYERS = 48, 3, 4


@pytest.mark.parametrize('method,count', [
    (dict(type='SSF'), 204_288), (dict(type='FacT', mode='tt'), 21_504),
    (dict(type='FacT', mode='tk'), 13_952), (dict(type='KAdaptation'), 36_864),
    (dict(type='FacT', mode='tt', rank=16), 61_440),
    (dict(type='FacT', mode='tk', rank=32), 86_528)])
def test_vit_b_trainable_counts_equal_the_reference_table(method, count):
    with torch.device('meta'):
        model = PEFTViT(**VIT_B, method=method)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == count


def ssf_timm_state(seed: int = 0) -> dict:
    """A tiny timm ViT trained with SSF, as ``dongzelian/SSF`` names it (with its head, its final
    norm and the SSF after that norm)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    one = lambda n: 1 + r(n)  # noqa: E731
    sd = {'cls_token': r(1, 1, C), 'pos_embed': r(1, 197, C),
          'patch_embed.proj.weight': r(C, 3, 16, 16) * 0.3, 'patch_embed.proj.bias': r(C),
          'patch_embed.ssf_scale_1': one(C), 'patch_embed.ssf_shift_1': r(C),
          'norm.weight': one(C), 'norm.bias': r(C), 'ssf_scale_1': one(C), 'ssf_shift_1': r(C),
          'head.weight': r(10, C), 'head.bias': r(10)}
    for i in range(LAYERS):
        b = f'blocks.{i}.'
        for name, shape in (('norm1', C), ('norm2', C)):
            sd[b + name + '.weight'], sd[b + name + '.bias'] = one(shape), r(shape)
        for name, (o, n) in (('attn.qkv', (3 * C, C)), ('attn.proj', (C, C)),
                             ('mlp.fc1', (4 * C, C)), ('mlp.fc2', (C, 4 * C))):
            sd[b + name + '.weight'], sd[b + name + '.bias'] = r(o, n), r(o)
        for owner, sizes in (('', (C, C)), ('attn.', (3 * C, C)), ('mlp.', (4 * C, C))):
            for k, n in zip((1, 2), sizes):
                sd[f'{b}{owner}ssf_scale_{k}'], sd[f'{b}{owner}ssf_shift_{k}'] = one(n), r(n)
    return sd


def qgelu(t: torch.Tensor) -> torch.Tensor:
    return t * torch.sigmoid(1.702 * t)


def convpass_reference(sd: dict, name: str, t: torch.Tensor, side: int) -> torch.Tensor:
    """PETL-ViT's ViT ``Convpass`` (eval) on the tensors ``sd[name + '.adapter_*']``: the class
    token through the 3x3 convolution as a 1x1 map, the patches as a ``side x side`` map."""
    w = lambda k: sd[f'{name}.adapter_{k}']  # noqa: E731
    z = qgelu(F.linear(t, w('down.weight'), w('down.bias')))
    conv = lambda m: F.conv2d(m.permute(0, 3, 1, 2), w('conv.weight'), w('conv.bias'),  # noqa
                              padding=1).flatten(2).transpose(1, 2)
    b, d = len(t), z.shape[-1]
    z = torch.cat([conv(z[:, :1].reshape(b, 1, 1, d)),
                   conv(z[:, 1:].reshape(b, side, side, d))], dim=1)
    return F.linear(qgelu(z), w('up.weight'), w('up.bias'))


def timm_vit_reference(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """A timm ViT forward (eval) on the file's tensors, with SSF's placements where ``sd`` has
    SSF tensors and PETL-ViT's Convpass bypasses (``x + attn(n1) + m1(n1)``, ``x + mlp(n2) +
    m2(n2)``, scale 1) where it has adapters; the patch map after the last block."""
    def ssf(t, p):
        scale = p.replace('*', 'scale')
        return t * sd[scale] + sd[p.replace('*', 'shift')] if scale in sd else t
    ln = lambda t, p: F.layer_norm(t, (C, ), sd[p + '.weight'], sd[p + '.bias'], 1e-6)  # noqa
    lin = lambda t, p: F.linear(t, sd[p + '.weight'], sd[p + '.bias'])  # noqa
    p = F.conv2d(x, sd['patch_embed.proj.weight'], sd['patch_embed.proj.bias'], stride=16)
    h, w = p.shape[-2:]

    def bypass(b, site, n):
        name = f'{b}adapter_{site}'
        return convpass_reference(sd, name, n, h) if name + '.adapter_up.weight' in sd else 0

    t = ssf(p.flatten(2).transpose(1, 2), 'patch_embed.ssf_*_1')  # patch tokens only
    t = torch.cat([sd['cls_token'].expand(len(x), -1, -1), t], dim=1) + sd['pos_embed']
    for i in range(LAYERS):
        b = f'blocks.{i}.'
        a = ssf(ln(t, b + 'norm1'), b + 'ssf_*_1')
        qkv = ssf(lin(a, b + 'attn.qkv'), b + 'attn.ssf_*_1')
        q, k, v = qkv.reshape(len(x), -1, 3, HEADS, C // HEADS).permute(2, 0, 3, 1, 4)
        att = ((q @ k.transpose(-2, -1)) * (C // HEADS)**-0.5).softmax(-1)
        o = (att @ v).transpose(1, 2).reshape(len(x), -1, C)
        t = t + ssf(lin(o, b + 'attn.proj'), b + 'attn.ssf_*_2') + bypass(b, 'attn', a)
        n = ln(t, b + 'norm2')
        f = ssf(n, b + 'ssf_*_2')
        f = F.gelu(ssf(lin(f, b + 'mlp.fc1'), b + 'mlp.ssf_*_1'))
        t = t + ssf(lin(f, b + 'mlp.fc2'), b + 'mlp.ssf_*_2') + bypass(b, 'mlp', n)
    return t[:, 1:].reshape(len(x), h, w, C).permute(0, 3, 1, 2)


class Payload:
    """Not an allowed checkpoint object."""


def test_ssf_timm_vit_file_loads_and_computes_the_reference(tmp_path):
    sd = ssf_timm_state()
    path = tmp_path / 'ssf_vit.pth.tar'
    args = argparse.Namespace(model='vit_base_patch16_224_in21k', tuning_mode='ssf', lr=5e-3,
                              epochs=100, aa=None, smoothing=0.1, mean=[0.5, 0.5, 0.5])
    torch.save({'epoch': 99, 'arch': 'vit_base_patch16_224_in21k', 'state_dict': sd,
                'optimizer': {'state': {}, 'param_groups': []}, 'version': 2, 'args': args,
                'metric': 77.1}, path)
    model = PEFTViT(**TINY_PEFT_VIT, method=dict(type='SSF'),
                    init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert isinstance(model.layers[0].ln1, SSF) and isinstance(model.patch_embed.projection, SSF)
    torch.testing.assert_close(model.layers[2].ffn.layers[0][0].ssf_scale,
                               sd['blocks.2.mlp.ssf_scale_1'])
    unexpected = model.pretrained_report.unexpected
    assert 'ssf_scale_1' in unexpected  # the classification norm's SSF: not in this backbone
    model.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        out = model(x)[0]
    torch.testing.assert_close(out, timm_vit_reference(sd, x), atol=1e-4, rtol=1e-4)
    # folded into the frozen layers (25 SSFs) and removed: the same features (float64: exact up
    # to rounding; the float32 features are ~1e2 in size here)
    model.double()
    with torch.no_grad():
        out = model(x.double())[0]
        assert fold_method(model.layers, model.patch_embed) == 4 * 6 + 1
        assert not any(isinstance(m, WrappingModule) for m in model.modules())
        torch.testing.assert_close(model(x.double())[0], out, atol=1e-9, rtol=1e-9)

    # only the Namespace is allowed: another object in the same place is still refused
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': sd, 'args': Payload()}, bad)
    other = PEFTViT(**TINY_PEFT_VIT, method=dict(type='SSF'),
                    init_cfg=dict(type='Pretrained', checkpoint=str(bad)))
    with pytest.raises(UnsafeCheckpointError, match='Payload'):
        other.init_weights()


@pytest.mark.parametrize('method', [dict(type='FacT', mode='tt'), dict(type='FacT', mode='tk'),
                                    dict(type='KAdaptation', n=16)])
def test_vit_methods_train_merge_and_fold(method):
    torch.manual_seed(0)
    model = PEFTViT(**TINY_PEFT_VIT, method=method)
    with torch.no_grad():  # a moved update (V / the l factors start at zero)
        for p in model.parameters():
            if p.requires_grad:
                p.normal_(std=0.1)
    x = torch.randn(1, 3, 64, 80)
    model.train()
    model(x)[0].square().mean().backward()
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trained and all(p.grad is not None and p.grad.abs().sum() > 0 for _, p in trained)
    model.eval()
    with torch.no_grad():
        expected = model(x)[0]
        for m in model.modules():
            if isinstance(m, WrappingModule):
                m.merge()
        torch.testing.assert_close(model(x)[0], expected, atol=1e-5, rtol=1e-5)
        for m in model.modules():
            if isinstance(m, WrappingModule):
                m.unmerge()
        fold_method(model.layers, model.patch_embed)
        torch.testing.assert_close(model(x)[0], expected, atol=1e-5, rtol=1e-5)


def fact_petl_state(mode: str, r: int = 8, seed: int = 1) -> dict:
    """What PETL-ViT's ``save`` writes: the FacT tensors and the head, nothing else."""
    g = torch.Generator().manual_seed(seed)
    t = lambda *s: torch.randn(*s, generator=g) * 0.1  # noqa: E731
    sd = {'FacTu.weight': t(r, C), 'FacTv.weight': t(C, r), 'head.weight': t(10, C),
          'head.bias': t(10)}
    if mode == 'tk':
        sd.update({'FacTc': t(r, r, r), 'FacTp': t(r, 12 * LAYERS)})
    else:
        for i in range(LAYERS):
            for s in ('q', 'k', 'v', 'proj'):
                sd[f'blocks.{i}.attn.{s}_FacTs.weight'] = t(r, r)
            sd[f'blocks.{i}.mlp.fc1_FacTs.weight'] = t(4 * r, r)
            sd[f'blocks.{i}.mlp.fc2_FacTs.weight'] = t(r, 4 * r)
    return sd


@pytest.mark.parametrize('mode', ['tt', 'tk'])
def test_petl_fact_file_loads_beside_the_vit_file(mode, tmp_path):
    base = {k: v for k, v in ssf_timm_state().items() if 'ssf_' not in k}
    torch.save({'model': base}, tmp_path / 'vit.pth')
    fact = fact_petl_state(mode)
    torch.save(fact, tmp_path / 'fact.pt')
    cfg = dict(type='Pretrained', checkpoint=str(tmp_path / 'vit.pth'),
               method_checkpoint=str(tmp_path / 'fact.pt'))
    model = PEFTViT(**TINY_PEFT_VIT, method=dict(type='FacT', mode=mode), init_cfg=cfg)
    model.init_weights()
    torch.testing.assert_close(model.peft_shared[0].FacTv.weight, fact['FacTv.weight'])
    if mode == 'tt':
        torch.testing.assert_close(model.layers[3].ffn.layers[1].fc2_FacTs.weight,
                                   fact['blocks.3.mlp.fc2_FacTs.weight'])
        torch.testing.assert_close(model.layers[1].attn.qkv.k_FacTs.weight,
                                   fact['blocks.1.attn.k_FacTs.weight'])
    else:
        torch.testing.assert_close(model.peft_shared[0].FacTp, fact['FacTp'])
    assert sorted(model.method_report.unexpected) == ['head.bias', 'head.weight']
    torch.testing.assert_close(model.layers[0].attn.qkv.weight, base['blocks.0.attn.qkv.weight'])
    # a file that lacks some of the method's tensors is refused
    del fact['FacTu.weight']
    torch.save(fact, tmp_path / 'fact.pt')
    model = PEFTViT(**TINY_PEFT_VIT, method=dict(type='FacT', mode=mode), init_cfg=cfg)
    with pytest.raises(ValueError, match='FacTu'):
        model.init_weights()


def convpass_petl_state(dim: int = 8, seed: int = 2) -> dict:
    """What PETL-ViT's Convpass ``save`` writes: the adapters and the head, nothing else."""
    g = torch.Generator().manual_seed(seed)
    t = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd = {'head.weight': t(10, C), 'head.bias': t(10)}
    for i in range(LAYERS):
        for site in ('attn', 'mlp'):
            n = f'blocks.{i}.adapter_{site}.adapter_'
            sd.update({n + 'down.weight': t(dim, C), n + 'down.bias': t(dim),
                       n + 'conv.weight': t(dim, dim, 3, 3), n + 'conv.bias': t(dim),
                       n + 'up.weight': t(C, dim), n + 'up.bias': t(C)})
    return sd


def test_petl_convpass_file_loads_beside_the_vit_file_and_computes_the_reference(tmp_path):
    base = {k: v for k, v in ssf_timm_state().items() if 'ssf_' not in k}
    torch.save({'model': base}, tmp_path / 'vit.pth')
    convpass = convpass_petl_state()
    torch.save(convpass, tmp_path / 'convpass.pt')
    cfg = dict(type='Pretrained', checkpoint=str(tmp_path / 'vit.pth'),
               method_checkpoint=str(tmp_path / 'convpass.pt'))
    model = PEFTViT(**TINY_PEFT_VIT, method=dict(type='Convpass'), init_cfg=cfg)
    model.init_weights()
    torch.testing.assert_close(model.layers[2].adapter_mlp.adapter_conv.weight,
                               convpass['blocks.2.adapter_mlp.adapter_conv.weight'])
    assert sorted(model.method_report.unexpected) == ['head.bias', 'head.weight']
    model.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        out = model(x)[0]
        plain = timm_vit_reference(base, x)
    expected = timm_vit_reference({**base, **convpass}, x)
    assert (expected - plain).abs().max() > 1e-2  # the bypasses change the features
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
    # a file without one of the adapters is refused
    del convpass['blocks.1.adapter_attn.adapter_up.bias']
    torch.save(convpass, tmp_path / 'convpass.pt')
    model = PEFTViT(**TINY_PEFT_VIT, method=dict(type='Convpass'), init_cfg=cfg)
    with pytest.raises(ValueError, match='adapter_up'):
        model.init_weights()
