"""PEFTResNet and Conv-Adapter: the official Bottleneck formula (re-implemented here from its
description), the reference count, the freezing and BatchNorm eval mode, and the official
Conv-Adapter files (with their pickled ``argparse.Namespace``) loading through the safe loader."""
import argparse

import pytest
import torch
import torch.nn.functional as F
from mmdet.models.backbones import ResNet

import mmpeft  # noqa: F401
from mmpeft import compat
from mmpeft.models.backbones import PEFTResNet
from mmpeft.models.peft import ConvAdapter, ConvSite
from mmpeft.models.utils import count_parameters

TINY = dict(depth=50, base_channels=8, stem_channels=8, out_indices=(0, 1, 2, 3))


def randomise_adapters(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if 'tuning_module' in n:
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.2)
                if n.endswith('conv1.bias'):  # keep every hidden ReLU alive (some have 1 channel)
                    p.abs_().add_(1.0)
    return model


def ref_adapter(t, h, stride):
    """The official ``ConvAdapter.forward`` (grouped 3x3, ReLU, 1x1, ``se``)."""
    c1, c2 = t.conv1, t.conv2
    z = F.conv2d(h, c1.weight, c1.bias, stride, 1, groups=h.shape[1] // 8)
    return F.conv2d(F.relu(z), c2.weight, c2.bias) * t.se


def ref_bottleneck(block, x):
    """The official Bottleneck with Conv-Adapter: ``relu(bn2(conv2 h)) + a(h)``, h after
    conv1's ReLU."""
    h = F.relu(block.bn1(block.conv1(x)))
    out = F.relu(block.bn2(block.conv2(h))) + ref_adapter(block.tuning_module, h,
                                                          block.conv2.stride)
    out = block.bn3(block.conv3(out))
    identity = x if block.downsample is None else block.downsample(x)
    return F.relu(out + identity)


def ref_resnet(model, x):
    x = model.maxpool(F.relu(model.norm1(model.conv1(x))))
    outs = []
    for name in model.res_layers:
        for block in getattr(model, name):
            x = ref_bottleneck(block, x)
        outs.append(x)
    return outs


def test_resnet50_count_is_the_reference():
    model = PEFTResNet(depth=50, method=dict(type='ConvAdapter'))
    counts = count_parameters(model)
    assert counts['trainable'] == 199_192
    assert counts['total'] - 199_192 == sum(p.numel() for p in ResNet(depth=50).parameters())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all('.tuning_module.' in n for n in trainable)
    block = model.layer2[0]
    assert block.peft_sites == {ConvSite.CONV2_PARALLEL: 'tuning_module'}
    t = block.tuning_module
    assert t.conv1.weight.shape == (16, 8, 3, 3) and t.conv1.stride == (2, 2)
    assert t.conv2.weight.shape == (128, 16, 1, 1) and torch.equal(t.se, torch.ones(1, 128, 1, 1))
    # kaiming-normal fan-out (std sqrt(2 / (16 * 9))), zero biases: active from the start
    assert abs(t.conv1.weight.std().item() - (2 / 144) ** 0.5) < 0.03
    assert not t.conv1.bias.any() and not t.conv2.bias.any()


def test_matches_the_official_formula_forward_and_gradients():
    torch.manual_seed(0)
    model = randomise_adapters(PEFTResNet(**TINY, method=dict(type='ConvAdapter'))).double()
    with torch.no_grad():  # non-trivial running statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model.train()  # norm_eval: BatchNorm in eval
    assert all(not m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    x = torch.randn(1, 3, 32, 48, dtype=torch.float64)
    outs, refs = model(x), ref_resnet(model, x)
    for o, r in zip(outs, refs):
        torch.testing.assert_close(o, r, atol=1e-10, rtol=1e-10)
    params = [p for p in model.parameters() if p.requires_grad]
    w = [torch.randn_like(o) for o in outs]
    grads = torch.autograd.grad(sum((o * v).sum() for o, v in zip(outs, w)), params)
    ref_grads = torch.autograd.grad(sum((o * v).sum() for o, v in zip(refs, w)), params)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=1e-9, rtol=1e-9)
        assert g.abs().sum() > 0
    # with_cp: the same gradients
    cp_model = PEFTResNet(**TINY, with_cp=True, method=dict(type='ConvAdapter')).double()
    cp_model.load_state_dict(model.state_dict())
    cp_model.train()
    cp_outs = cp_model(x)
    cp_params = [p for p in cp_model.parameters() if p.requires_grad]
    cp_grads = torch.autograd.grad(sum((o * v).sum() for o, v in zip(cp_outs, w)), cp_params)
    for g, r in zip(cp_grads, grads):
        torch.testing.assert_close(g, r)


def test_without_a_method_it_is_mmdets_resnet():
    torch.manual_seed(0)
    ref = ResNet(**TINY)
    ref.eval()
    model = PEFTResNet(**TINY).eval()
    model.load_state_dict(ref.state_dict())
    assert count_parameters(model)['trainable'] == 0
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), ref(x)):
            assert torch.equal(a, b)
    assert model.train().norm1.training is False
    assert PEFTResNet(**TINY, norm_eval=False).train().norm1.training


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='Bottlenecks'):
        PEFTResNet(depth=18, method=dict(type='ConvAdapter'))
    with pytest.raises(ValueError, match='frozen_stages=1'):
        PEFTResNet(**TINY, frozen_stages=1, method=dict(type='ConvAdapter'))
    with pytest.raises(ValueError, match='multiple of adapt_size'):
        ConvAdapter(12, 12)
    with pytest.raises(KeyError, match='unknown PEFT method'):
        PEFTResNet(**TINY, method=dict(type='NoSuchMethod'))
    with pytest.raises(ValueError, match='has no site'):  # a transformer method in a CNN
        PEFTResNet(**TINY, method=dict(type='Mona'))


def official_file(path, model):
    """A file as the official Conv-Adapter code saves one: torchvision names, its extra
    ``norm`` (BatchNorm before the pooling) and ``head``, the optimizer, the AMP scaler and the
    ``argparse.Namespace`` of its arguments."""
    state = dict(model.state_dict())
    state.update({'norm.weight': torch.ones(256), 'norm.bias': torch.zeros(256),
                  'norm.running_mean': torch.zeros(256), 'norm.running_var': torch.ones(256),
                  'head.linear.weight': torch.randn(10, 256), 'head.linear.bias': torch.zeros(10)})
    torch.save({'model': state, 'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1}]},
                'epoch': 99, 'scaler': {'scale': 65536.0, 'growth_factor': 2.0},
                'args': argparse.Namespace(model='resnet50', tuning_method='conv_adapt',
                                           adapt_size=8, lr=0.1)}, path)
    return state


def test_official_conv_adapter_file_loads(tmp_path):
    torch.manual_seed(0)
    src = randomise_adapters(PEFTResNet(**TINY, method=dict(type='ConvAdapter')), seed=3)
    state = official_file(str(tmp_path / 'checkpoint.pth'), src)
    model = PEFTResNet(**TINY, method=dict(type='ConvAdapter'), init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'checkpoint.pth')))
    model.init_weights()
    own = model.state_dict()
    for k, v in src.state_dict().items():
        assert torch.equal(own[k], v), k
    assert model.pretrained_report.notes['layout'] == 'conv-adapter'
    assert set(model.pretrained_report.notes['unused']) == {
        k for k in state if k.startswith(('norm.', 'head.'))}
    assert count_parameters(model)['trainable'] == count_parameters(src)['trainable']
    # a plain torchvision file (fc head, no adapters) loads the frozen part only
    plain = {k: v for k, v in src.state_dict().items() if 'tuning_module' not in k}
    plain['fc.weight'] = torch.zeros(10, 256)
    torch.save(plain, tmp_path / 'tv.pth')
    model = PEFTResNet(**TINY, method=dict(type='ConvAdapter'), pretrained=str(tmp_path / 'tv.pth'))
    model.init_weights()
    assert model.pretrained_report.notes['layout'] == 'torchvision'
    assert torch.equal(model.layer1[0].conv2.weight, src.layer1[0].conv2.weight)


def test_safe_loader_allows_exactly_argparse_namespace(tmp_path):
    path = str(tmp_path / 'ns.pth')
    torch.save({'w': torch.ones(2), 'args': argparse.Namespace(a=1, b='x', c=[1, 2])}, path)
    loaded = compat.load_checkpoint_file(path)
    assert loaded['args'] == argparse.Namespace(a=1, b='x', c=[1, 2])
    for other in (argparse.ArgumentTypeError('no'), argparse.ArgumentParser):
        bad = str(tmp_path / 'bad.pth')
        torch.save({'w': torch.ones(2), 'args': other}, bad)
        with pytest.raises(compat.UnsafeCheckpointError, match='argparse.Argument'):
            compat.load_checkpoint_file(bad)


def test_registered_in_every_scope():
    from mmdet.registry import MODELS as DET
    from mmrotate.registry import MODELS as ROT
    from mmseg.registry import MODELS as SEG

    from mmpeft.models.peft import CoLin, Convpass
    from mmpeft.registry import PEFT_MODULES
    for registry in (DET, SEG, ROT):
        assert registry.get('PEFTResNet') is PEFTResNet
    for cls in (ConvAdapter, Convpass, CoLin):
        assert PEFT_MODULES.get(cls.__name__) is cls
