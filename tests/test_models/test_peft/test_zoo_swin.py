"""SSF, FacT (TT, TK) and KAdaptation in PEFTSwinTransformer against an independent
re-implementation of the reference formulas (tests/_zoo_reference.py): forward and gradients in
eval and in train mode (drop-path, dropout), trainable counts at Swin-B/L, merging and folding."""
import argparse
import re
from collections import OrderedDict

import pytest
import torch
from _zoo_reference import METHODS, TINY_ZOO, ZooRefSwin, randomize_all_
from mmdet.models.backbones.swin import swin_converter
from peft_swin_cases import SWIN_B, SWIN_L

from mmpeft.models.backbones import PEFTSwinTransformer
from mmpeft.models.backbones.peft_block import fold_method
from mmpeft.models.peft import SSF, FacT, KAdaptation, WrappingModule

CFGS = {'ssf': dict(type='SSF'), 'fact-tt': dict(type='FacT', mode='tt'),
        'fact-tk': dict(type='FacT', mode='tk'), 'kadaptation': dict(type='KAdaptation')}
# reference name -> mmpeft name, for the method's tensors (the Swin's go through swin_converter)
_WHERE = {'qkv': 'attn.w_msa.qkv', 'proj': 'attn.w_msa.proj', 'fc1': 'ffn.layers.0.0',
          'fc2': 'ffn.layers.1'}
_RULES = [
    (r'^patch_embed\.ssf_(scale|shift)_1$', r'patch_embed.projection.ssf_\1'),
    (r'^patch_embed\.ssf_(scale|shift)_2$', r'patch_embed.norm.ssf_\1'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.ssf_(scale|shift)_([12])$',
     r'stages.\1.blocks.\2.norm\4.ssf_\3'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.attn\.ssf_(scale|shift)_1$',
     r'stages.\1.blocks.\2.attn.w_msa.qkv.ssf_\3'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.attn\.ssf_(scale|shift)_2$',
     r'stages.\1.blocks.\2.attn.w_msa.proj.ssf_\3'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.mlp\.ssf_(scale|shift)_1$',
     r'stages.\1.blocks.\2.ffn.layers.0.0.ssf_\3'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.mlp\.ssf_(scale|shift)_2$',
     r'stages.\1.blocks.\2.ffn.layers.1.ssf_\3'),
    (r'^layers\.(\d+)\.(FacT[uvcp].*)$', r'peft_shared.\1.\2'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.attn\.([qkv])_FacTs\.', r'stages.\1.blocks.\2.'
     + _WHERE['qkv'] + r'.\3_FacTs.'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.attn\.proj_FacTs\.', r'stages.\1.blocks.\2.'
     + _WHERE['proj'] + '.proj_FacTs.'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.mlp\.(fc[12])_FacTs\.',
     r'stages.\1.blocks.\2.FC\3.\3_FacTs.'),
    (r'^(phm_rule[qv]_[lr])$', r'peft_shared.0.\1'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.attn\.([qv]_proj_[lr]_kadaption|b)$',
     r'stages.\1.blocks.\2.' + _WHERE['qkv'] + r'.\3'),
]


def to_mmpeft(state):
    """The reference model's state in mmpeft's names (written independently of the loader)."""
    method, swin = OrderedDict(), OrderedDict()
    for k, v in state.items():
        for pattern, repl in _RULES:
            if re.match(pattern, k):
                new = re.sub(pattern, repl, k)
                new = new.replace('FCfc1', _WHERE['fc1']).replace('FCfc2', _WHERE['fc2'])
                method[new] = v
                break
        else:
            swin[k] = v
    out = OrderedDict((k[len('backbone.'):], v) for k, v in swin_converter(swin).items())
    out.update(method)
    return out


def build(method: str, drop_path_rate: float = 0.0, **kw) -> PEFTSwinTransformer:
    return PEFTSwinTransformer(**TINY_ZOO, drop_path_rate=drop_path_rate,
                               method=CFGS[method], **kw)


def pair(method: str, drop_path_rate: float = 0.0, seed: int = 0):
    torch.manual_seed(seed)
    ref = ZooRefSwin(32, (2, 2), (1, 2), 4, method, drop_path_rate=drop_path_rate).double()
    randomize_all_(ref, seed=seed)
    model = build(method, drop_path_rate).double()
    model.load_state_dict(to_mmpeft(ref.state_dict()), strict=True)
    return ref, model


@pytest.mark.parametrize('method', METHODS)
def test_matches_reference_eval(method):
    ref, model = pair(method)
    ref.eval()
    model.eval()
    x = torch.randn(2, 3, 37, 45, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(model(x), ref(x)):
            torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize('method', METHODS)
def test_training_moves_every_trained_tensor_from_the_default_init(method):
    """From the method's own initialisation (the update at zero: FacT's V, KAdaptation's left
    factors; not the released KAdaptation's all-zero factors, which never move), the zero factor
    gets a gradient at once and, after one step, every trained tensor does; frozen ones never."""
    torch.manual_seed(0)
    model = build(method).double()
    with torch.no_grad():  # a random frozen Swin; the method as initialised
        for n, p in model.named_parameters():
            if not p.requires_grad and not model.is_method_state(n) and p.dim() > 1:
                p.normal_(std=0.2)
    model.eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    zero = {'ssf': 'ssf_scale', 'fact-tt': 'FacTv', 'fact-tk': 'FacTv',
            'kadaptation': 'q_proj_l_kadaption'}[method]
    opt = torch.optim.SGD(trained.values(), lr=0.1)
    for step in range(2):
        opt.zero_grad()
        sum(o.square().mean() for o in model(x)).backward()
        moved = {n for n, p in trained.items() if p.grad is not None and p.grad.abs().sum() > 0}
        assert any(zero in n for n in moved), (step, zero)
        opt.step()
    assert moved == set(trained), set(trained) - moved
    assert all(p.grad is None for n, p in model.named_parameters() if n not in trained)


@pytest.mark.parametrize('method', METHODS)
def test_matches_reference_train_with_drop_path(method):
    """Train mode: the same drop-path and dropout draws give the same output and the same
    gradients of every trained tensor."""
    ref, model = pair(method, drop_path_rate=0.3, seed=1)
    ref.train()
    model.train()
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    outs = []
    for net in (model, ref):
        torch.manual_seed(123)
        out = net(x)
        sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum()
            for o in out).backward()
        outs.append(out)
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
    ref_grads = to_mmpeft(OrderedDict((n, p.grad if p.grad is not None else torch.zeros_like(p))
                                      for n, p in ref.named_parameters()))
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trained
    for n, p in trained:
        torch.testing.assert_close(p.grad, ref_grads[n], atol=1e-9, rtol=1e-9)
    # and drop-path acted: another seed gives another output
    torch.manual_seed(7)
    with torch.no_grad():
        assert not torch.allclose(model(x)[0], outs[0][0])


class _LinspaceOnCPU(torch.overrides.TorchFunctionMode):
    """mmdet's Swin reads its drop-path rates with ``.item()``: keep that one tensor real."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is torch.linspace:
            kwargs['device'] = 'cpu'
        return func(*args, **kwargs)


def meta_swin(cfg, arch) -> PEFTSwinTransformer:
    """A real-size backbone without memory (parameters on the meta device)."""
    with torch.device('meta'), _LinspaceOnCPU():
        return PEFTSwinTransformer(**arch, method=cfg)


def trainable_count(cfg, arch) -> int:
    return sum(p.numel() for p in meta_swin(cfg, arch).parameters() if p.requires_grad)


@pytest.mark.parametrize('method,swin_b,swin_l', [
    ('ssf', 265_216, 397_824), ('fact-tt', 49_152, 64_512), ('fact-tk', 35_072, 50_432),
    ('kadaptation', 48_128, 72_192)])
def test_trainable_counts_equal_the_reference_table(method, swin_b, swin_l):
    assert trainable_count(CFGS[method], SWIN_B) == swin_b
    assert trainable_count(CFGS[method], SWIN_L) == swin_l


def test_kadaptation_frozen_state_is_saved_but_not_pretrained():
    """The rules (4,096) and b (12,032) at Swin-B: frozen, in the state dict, not required from a
    pretrained Swin file."""
    model = meta_swin(CFGS['kadaptation'], SWIN_B)
    frozen = {n: p.numel() for n, p in model.named_parameters()
              if not p.requires_grad and model.is_method_state(n)}
    assert sum(v for n, v in frozen.items() if 'phm_rule' in n) == 4_096
    assert sum(v for n, v in frozen.items() if n.endswith('.qkv.b')) == 12_032
    assert not any(model.is_pretrained_param(n) for n in frozen)
    assert model.is_pretrained_param('stages.0.blocks.0.attn.w_msa.qkv.weight')
    assert all(n in model.state_dict() for n in frozen)


@pytest.mark.parametrize('method', METHODS)
def test_merge_unmerge_and_fold(method):
    model = trained_like(method)
    x = torch.randn(1, 3, 40, 36)
    with torch.no_grad():
        expected = model(x)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        modules = [m for m in model.modules() if isinstance(m, WrappingModule)]
        assert modules and all(m.mergeable for m in modules)
        for m in modules:
            m.merge()
        for a, b in zip(model(x), expected):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        merged_state = model.state_dict()
        assert merged_state.keys() == state.keys()
        for k, v in state.items():
            torch.testing.assert_close(merged_state[k], v, atol=1e-6, rtol=1e-6)
        assert any(not torch.equal(m.weight, state_of(model, m, state)) for m in modules)
        with torch.enable_grad(), pytest.raises(RuntimeError, match='merged'):
            model.train()
            model(x)
        model.eval()
        for m in modules:
            m.unmerge()
        for m in modules:
            assert torch.equal(m.weight, state_of(model, m, state))
        n = fold_method([b for s in model.stages for b in s.blocks], model.patch_embed)
        assert n == len(modules)
        assert not any(isinstance(m, WrappingModule) for m in model.modules())
        for a, b in zip(model(x), expected):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def trained_like(method: str) -> PEFTSwinTransformer:
    """A float32 model with a random frozen Swin and the method's tensors moved from their
    initialisation as by some training (the update no longer zero), in eval mode."""
    torch.manual_seed(2)
    model = build(method)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
            elif not model.is_method_state(n) and p.dim() > 1:
                p.normal_(std=0.1)
    return model.eval()


def state_of(model, module, state):
    name = next(n for n, m in model.named_modules() if m is module)
    return state[f'{name}.weight']


def test_module_types_and_errors():
    model = build('fact-tk')
    qkv = model.stages[0].blocks[1].attn.w_msa.qkv
    assert isinstance(qkv, FacT) and qkv.index == 1
    assert qkv.shared is model.peft_shared[0]
    assert model.stages[1].blocks[0].ffn.layers[1].shared is model.peft_shared[1]
    assert 'FacTu' not in ''.join(n for n, _ in qkv.named_parameters())  # shared: saved once
    assert isinstance(build('ssf').patch_embed.norm, SSF)
    assert isinstance(build('kadaptation').stages[1].blocks[0].attn.w_msa.qkv, KAdaptation)
    with pytest.raises(ValueError, match='mode'):
        PEFTSwinTransformer(**TINY_ZOO, method=dict(type='FacT', mode='cp'))
    with pytest.raises(ValueError, match='multiple of n=32'):
        PEFTSwinTransformer(**dict(TINY_ZOO, embed_dims=48, num_heads=(1, 2)),
                            method=dict(type='KAdaptation'))


def reference_file(method: str, path: str):
    """A randomised reference model saved as its codebase saves it: SSF's timm trainer
    (``{'state_dict', 'epoch', 'arch', 'args': Namespace}``, Microsoft/timm keys, with the
    classification norm, its SSF and the head), the CoLin repository's mmdet 2.x detector file
    for KAdaptation (``backbone.``-prefixed mmdet keys, neck and heads)."""
    torch.manual_seed(0)
    ref = ZooRefSwin(32, (2, 2), (1, 2), 4, method).double()
    randomize_all_(ref, seed=5)
    with torch.no_grad():
        for i in range(2):  # mmpeft's output norms are frozen at identity, never loaded
            getattr(ref, f'norm{i}').weight.fill_(1)
            getattr(ref, f'norm{i}').bias.zero_()
    ref.eval()
    state = OrderedDict((k, v) for k, v in ref.state_dict().items()
                        if not re.match(r'norm\d\.', k))
    if method == 'ssf':
        state.update({'norm.weight': torch.ones(64), 'norm.bias': torch.zeros(64),
                      'ssf_scale_1': torch.ones(64), 'ssf_shift_1': torch.zeros(64),
                      'head.weight': torch.zeros(5, 64), 'head.bias': torch.zeros(5)})
        torch.save({'epoch': 9, 'arch': 'swin_base_patch4_window7_224_in22k',
                    'state_dict': state, 'version': 2, 'metric': 80.0,
                    'args': argparse.Namespace(model='swin', tuning_mode='ssf', lr=5e-3)}, path)
    else:
        state = swin_converter(state)
        state.update({'neck.lateral_convs.0.conv.weight': torch.zeros(8, 32, 1, 1),
                      'roi_head.bbox_head.fc_cls.weight': torch.zeros(3, 8)})
        torch.save({'state_dict': state, 'meta': {'mmcv_version': '1.7.1', 'epoch': 12,
                                                  'CLASSES': ('a', 'b')}}, path)
    return ref


@pytest.mark.parametrize('method,layout', [('ssf', 'ssf-timm'),
                                           ('kadaptation', 'colin-kadaptation')])
def test_reference_checkpoint_loads_and_computes_the_reference(method, layout, tmp_path):
    path = str(tmp_path / f'{method}.pth')
    ref = reference_file(method, path)
    model = build(method, init_cfg=dict(type='Pretrained', checkpoint=path)).double()
    model.init_weights()
    assert model.pretrained_report.notes['layout'] == layout
    model.eval()
    x = torch.randn(1, 3, 37, 45, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(model(x), ref(x)):
            torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
    # every tensor of the method came from the file (nothing left at its initialisation)
    loaded = set(model.pretrained_report.loaded)
    method_names = {n for n, _ in model.named_parameters()
                    if model.is_method_param(n) or model.is_method_state(n)}
    assert method_names and method_names <= loaded
