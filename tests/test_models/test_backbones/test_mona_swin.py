"""MonaSwinTransformer: structure, freezing, training behaviour."""
import copy

import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import SwinTransformer

import mmpeft  # noqa: F401
from mmpeft.models.backbones import MonaSwinTransformer, PEFTSwinBlock
from mmpeft.models.peft import Mona
from mmpeft.models.utils import count_parameters, freeze_except

from _swin_reference import TINY, randomize_, tiny_shape


def tiny(**kwargs) -> MonaSwinTransformer:
    cfg = dict(TINY, drop_path_rate=0.0)
    cfg.update(kwargs)
    return MonaSwinTransformer(**cfg)


def is_adapter(name: str) -> bool:
    return '.mona1.' in name or '.mona2.' in name


# ------------------------------------------------------------------------------------ backbone
@pytest.mark.parametrize('out_indices', [(0, 1, 2, 3), (1, 2, 3)])
def test_backbone_output_shapes_odd_input(out_indices):
    model = tiny(out_indices=out_indices).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 225, 257))
    sizes = tiny_shape(225, 257)
    assert sizes == [(57, 65), (29, 33), (15, 17), (8, 9)]
    assert len(outs) == len(out_indices)
    for out, i in zip(outs, out_indices):
        assert out.shape == (1, 32 * 2**i, *sizes[i])
    assert {n for n, _ in model.named_children() if n.startswith('norm')} == {
        f'norm{i}' for i in out_indices
    }


def test_structure_and_parameter_names():
    model = tiny()
    names = dict(model.named_parameters())
    for i, d in enumerate((1, 1, 2, 1)):
        for j in range(d):
            blk = model.stages[i].blocks[j]
            assert type(blk) is PEFTSwinBlock
            assert blk.peft_sites == dict(attn_residual='mona1', ffn_residual='mona2')
            assert blk.mona1.in_dims == blk.mona2.in_dims == 32 * 2**i
            assert f'stages.{i}.blocks.{j}.attn.w_msa.qkv.weight' in names
            assert f'stages.{i}.blocks.{j}.ffn.layers.0.0.weight' in names
            assert f'stages.{i}.blocks.{j}.mona1.adapter_conv.projector.weight' in names
            assert f'stages.{i}.blocks.{j}.mona2.gammax' in names
    trainable = {n for n, p in names.items() if p.requires_grad}
    assert trainable == {n for n in names if is_adapter(n)}
    assert len(trainable) == 5 * 2 * 16


@pytest.mark.parametrize('arch,embed,heads,expected', [
    ('swin-b', 128, (4, 8, 16, 32), 3_667_456),
    ('swin-l', 192, (6, 12, 24, 48), 5_267_712),
])
def test_trainable_counts_full_size(arch, embed, heads, expected):
    model = MonaSwinTransformer(
        embed_dims=embed, depths=(2, 2, 18, 2), num_heads=heads, window_size=7)
    counts = count_parameters(model)
    measured = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert measured == counts['trainable'] == expected
    per_stage = [2 * d * (133 * embed * 2**i + 9728) for i, d in enumerate((2, 2, 18, 2))]
    assert sum(per_stage) == expected
    adapters = sum(p.numel() for m in model.modules() if isinstance(m, Mona)
                   for p in m.parameters())
    assert adapters == expected
    if arch == 'swin-b':  # Swin-B with 4 output norms, no head (reference section 1.6)
        assert counts['total'] - expected == 86_745_016


def test_freezing_survives_init_weights_and_train():
    model = tiny()
    before = {n for n, p in model.named_parameters() if p.requires_grad}
    model.init_weights()  # random init path of mmdet's SwinTransformer
    model.train()
    model.eval()
    model.train()
    assert {n for n, p in model.named_parameters() if p.requires_grad} == before
    for i in range(4):
        norm = getattr(model, f'norm{i}')
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))
        assert not norm.weight.requires_grad
    # frozen modules stay in train mode
    assert all(m.training for m in model.modules())
    # re-freezing is idempotent and undoes accidental unfreezing
    for p in model.parameters():
        p.requires_grad_(True)
    model.train()
    assert {n for n, p in model.named_parameters() if p.requires_grad} == before


def test_freeze_except_helper():
    m = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4))
    assert freeze_except(m, lambda n: n.startswith('1.')) == (16, 9)
    assert [p.requires_grad for p in m.parameters()] == [False, False, True, True]


def test_one_adamw_step_changes_only_adapters():
    torch.manual_seed(0)
    model = tiny(out_indices=(1, 2, 3)).train()
    before = copy.deepcopy(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    outs = model(torch.randn(2, 3, 61, 75))
    sum(o.square().mean() for o in outs).backward()
    opt.step()
    after = model.state_dict()
    for name, value in after.items():
        if is_adapter(name):
            assert not torch.equal(value, before[name]), f'{name} did not change'
        else:
            assert torch.equal(value, before[name]), f'frozen {name} changed'
    # stage 0 is not an output but its adapters still train (as in the VOC config)
    assert not torch.equal(after['stages.0.blocks.0.mona1.project2.weight'],
                           before['stages.0.blocks.0.mona1.project2.weight'])


def test_detector_step_trains_adapters_neck_and_heads(tmp_path):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules()
    cfg_file = tmp_path / 'mask_rcnn_mona.py'
    cfg_file.write_text("_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'\n")
    cfg = Config.fromfile(str(cfg_file))
    cfg.model.backbone = dict(type='MonaSwinTransformer', **TINY, drop_path_rate=0.1)
    cfg.model.neck.in_channels = [32, 64, 128, 256]
    cfg.model.roi_head.bbox_head.num_classes = 3
    cfg.model.roi_head.mask_head.num_classes = 3
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    before = copy.deepcopy(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    packed = demo_mm_inputs(2, [(3, 96, 128), (3, 96, 128)], num_items=[3, 2], num_classes=3,
                            with_mask=True)
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    opt.step()
    after = model.state_dict()

    def changed(prefix):
        return {k: not torch.equal(after[k], before[k]) for k in after if k.startswith(prefix)}

    backbone = changed('backbone.')
    assert all(v for k, v in backbone.items() if is_adapter(k))
    assert not any(v for k, v in backbone.items() if not is_adapter(k))
    for part in ('neck.', 'rpn_head.', 'roi_head.bbox_head.', 'roi_head.mask_head.'):
        assert any(changed(part).values()), f'{part} did not train'
    assert all(changed('neck.').values())


def test_with_cp_same_output_and_grads():
    torch.manual_seed(0)
    ref = tiny(drop_path_rate=0.2).train()
    randomize_(ref, seed=3)
    cpm = tiny(drop_path_rate=0.2, with_cp=True).train()
    cpm.load_state_dict(ref.state_dict())
    x = torch.randn(1, 3, 70, 90)  # frozen patch embed: block inputs do not require grad
    results = []
    for model in (ref, cpm):
        torch.manual_seed(123)
        outs = model(x)
        sum((o * torch.linspace(0, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        results.append((outs, grads))
    (o1, g1), (o2, g2) = results
    for a, b in zip(o1, o2):
        torch.testing.assert_close(a, b)
    assert g1.keys() == g2.keys() and len(g1) == 5 * 2 * 16
    for n in g1:
        assert g1[n].abs().sum() > 0, n
        torch.testing.assert_close(g1[n], g2[n], atol=1e-6, rtol=1e-4)


def test_drop_path_active_in_train_mode_only():
    model = tiny(drop_path_rate=0.5, mona_cfg=dict(dropout=0.0))
    x = torch.randn(1, 3, 64, 64)
    model.train()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert any(not torch.allclose(u, v) for u, v in zip(a, b))
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_zero_adapters_reduce_to_mmdet_swin():
    """With project2 = 0 every Mona is the identity: features equal mmdet's SwinTransformer."""
    torch.manual_seed(0)
    swin = SwinTransformer(**TINY, drop_path_rate=0.0)
    swin.eval()  # mmdet's SwinTransformer.train() returns None, so no chaining
    randomize_(swin, seed=5)
    model = tiny().eval()
    missing, unexpected = model.load_state_dict(swin.state_dict(), strict=False)
    assert not unexpected and all(is_adapter(k) for k in missing)
    x = torch.randn(1, 3, 93, 110)
    with torch.no_grad():
        ref = swin(x)
        out = model(x)
        assert any(not torch.allclose(a, b, atol=1e-4) for a, b in zip(ref, out))
        for m in model.modules():
            if isinstance(m, Mona):
                m.project2.weight.zero_()
                m.project2.bias.zero_()
        out = model(x)
    for a, b in zip(ref, out):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_frozen_stages_refused_and_pretrained_alias():
    with pytest.raises(ValueError, match='frozen_stages=1'):
        tiny(frozen_stages=1)
    model = tiny(pretrained='/some/file.pth')
    assert model.init_cfg == dict(type='Pretrained', checkpoint='/some/file.pth')
    with pytest.raises(ValueError, match='same time'):
        tiny(pretrained='/a.pth', init_cfg=dict(type='Pretrained', checkpoint='/b.pth'))
    with pytest.raises(ValueError, match='only supports'):
        tiny(init_cfg=dict(type='Kaiming')).init_weights()
    # mmdet's contracts (tests/test_models/test_backbones/test_swin.py, v3.3.0)
    for bad in (123, ['/a.pth']):
        with pytest.raises(TypeError, match='pretrained must be a str or None'):
            tiny(pretrained=bad)
    model = tiny(init_cfg=123)
    with pytest.raises(TypeError, match='init_cfg must be'):
        model.init_weights()
