"""Loading Swin / Mona checkpoints of every supported layout into MonaSwinTransformer."""
import logging
import os
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.backbones import SwinTransformer
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import load_checkpoint

import mmpeft  # noqa: F401
from mmpeft.checkpoint import CheckpointMismatchError, detect_swin_layout
from mmpeft.compat import UnsafeCheckpointError
from mmpeft.models.backbones import MonaSwinTransformer

from _swin_reference import (
    TINY,
    RefMonaSwin,
    fake_detector_keys,
    mmdet_to_microsoft,
    prefixed,
    randomize_,
    swin_keys,
)
from e2e_utils import REPO  # noqa: E402


def tiny(checkpoint=None, **kwargs) -> MonaSwinTransformer:
    cfg = dict(TINY, drop_path_rate=0.0)
    cfg.update(kwargs)
    if checkpoint is not None:
        cfg['init_cfg'] = dict(type='Pretrained', checkpoint=str(checkpoint))
    return MonaSwinTransformer(**cfg)


def trainable_names(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def adapter_state(model):
    return {k: v.clone() for k, v in model.state_dict().items() if '.mona' in k}


@pytest.fixture(scope='module')
def source_swin():
    """A tiny mmdet SwinTransformer with random weights (mmdet layout, no prefix)."""
    torch.manual_seed(0)
    swin = SwinTransformer(**TINY, drop_path_rate=0.0)
    return randomize_(swin, seed=11)


@pytest.fixture()
def log_lines():
    logger = MMLogger.get_current_instance()
    records = []

    class Collect(logging.Handler):

        def emit(self, record):
            records.append(record.getMessage())

    handler = Collect(level=logging.DEBUG)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def assert_swin_equal(model, ref_state):
    own = model.state_dict()
    keys = swin_keys(ref_state)
    assert len(keys) > 60
    for k in keys:
        assert torch.equal(own[k], ref_state[k]), k


def assert_identity_out_norms(model):
    for i in model.out_indices:
        norm = getattr(model, f'norm{i}')
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))


# ------------------------------------------------------------------------ (a) Microsoft layout
def test_inverse_mapping_is_inverse_of_swin_converter(source_swin):
    from mmdet.models.backbones.swin import swin_converter
    state = source_swin.state_dict()
    ms = mmdet_to_microsoft(state)
    assert 'layers.0.downsample.reduction.weight' in ms and 'patch_embed.proj.weight' in ms
    back = swin_converter(ms)
    for k in swin_keys(state):
        assert torch.equal(back['backbone.' + k], state[k]), k
    # the re-order is not the identity, so the test above is meaningful
    assert not torch.equal(ms['layers.0.downsample.norm.weight'],
                           state['stages.0.downsample.norm.weight'])


@pytest.mark.parametrize('wrap', ['model', 'backbone-prefix', 'plain'])
def test_load_microsoft_checkpoint(tmp_path, source_swin, wrap, log_lines):
    ms = mmdet_to_microsoft(source_swin.state_dict())
    ms['norm.weight'] = torch.randn(256)  # final classification norm and head: unused
    ms['head.weight'] = torch.randn(10, 256)
    ms['head.bias'] = torch.randn(10)
    ms['layers.0.blocks.0.attn.relative_position_index'] = torch.zeros(49, 49, dtype=torch.long)
    ms['layers.2.blocks.1.attn_mask'] = torch.zeros(4, 49, 49)
    if wrap == 'model':
        obj = {'model': ms}
    elif wrap == 'backbone-prefix':
        obj = prefixed(ms, 'backbone.')
    else:
        obj = ms
    path = tmp_path / 'swin_ms.pth'
    torch.save(obj, path)

    model = tiny(path)
    adapters_before = adapter_state(model)
    frozen_before = trainable_names(model)
    model.init_weights()
    assert_swin_equal(model, source_swin.state_dict())
    assert_identity_out_norms(model)
    assert all(torch.equal(v, adapters_before[k]) for k, v in adapter_state(model).items())
    assert trainable_names(model) == frozen_before
    text = '\n'.join(log_lines)
    assert 'layout "microsoft"' in text and str(path) in text
    assert 'unexpected keys' in text and 'head.weight' in text
    assert 'as expected' in text  # adapters and output norms reported as expected-missing
    assert 'missing keys' not in text


# ------------------------------------------------------------------- (b) mmdet / mmseg layout
@pytest.mark.parametrize('prefix,wrapper', [('', None), ('backbone.', None), ('', 'state_dict'),
                                            ('backbone.', 'state_dict')])
def test_load_mmdet_checkpoint(tmp_path, source_swin, prefix, wrapper):
    state = prefixed(source_swin.state_dict(), prefix)
    if prefix:
        state.update(fake_detector_keys())
    obj = {wrapper: state, 'meta': {'epoch': 3}} if wrapper else state
    path = tmp_path / 'swin_mmdet.pth'
    torch.save(obj, path)
    model = tiny(path)
    model.init_weights()
    assert_swin_equal(model, source_swin.state_dict())
    assert_identity_out_norms(model)
    assert len(trainable_names(model)) == 5 * 2 * 16


# ------------------------------------------------ (c) official Mona code: features must match
def reference_model(seed=7, **kwargs):
    torch.manual_seed(seed)
    ref = RefMonaSwin(**TINY, **kwargs)
    randomize_(ref, seed=seed)
    return ref.eval()


def official_mona_checkpoint(ref, path):
    state = prefixed(ref.state_dict(), 'backbone.')
    state.update(fake_detector_keys())
    torch.save({'state_dict': state, 'meta': {'mmdet_version': '2.11.0', 'epoch': 12}}, path)


@pytest.mark.parametrize('out_indices', [(0, 1, 2, 3), (1, 2, 3)])
def test_official_mona_checkpoint_features_match_reference(tmp_path, out_indices, log_lines):
    ref = reference_model(out_indices=out_indices)
    path = tmp_path / 'mona_official.pth'
    official_mona_checkpoint(ref, path)
    model = tiny(path, out_indices=out_indices)
    model.init_weights()
    model.eval()
    # float64 so that only real differences (not summation order) can exceed the tolerance
    model.double()
    ref.double()
    x = torch.randn(2, 3, 97, 129, dtype=torch.float64)  # padding in embed, windows, merging
    with torch.no_grad():
        expected = ref(x)
        out = model(x)
    assert [o.shape for o in out] == [e.shape for e in expected]
    for a, b in zip(out, expected):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
    # a different input size whose stages are smaller than the window
    x = torch.randn(1, 3, 45, 31, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(model(x), ref(x)):
            torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
    # and in float32 at the usual tolerance
    model.float()
    ref.float()
    with torch.no_grad():
        for a, b in zip(model(x.float()), ref(x.float())):
            torch.testing.assert_close(a, b, atol=5e-5, rtol=1e-4)
    assert trainable_names(model) == {n for n, _ in model.named_parameters() if '.mona' in n}
    text = '\n'.join(log_lines)
    assert 'layout "mona-official"' in text and '4 non-backbone keys ignored' in text


def test_reference_model_is_sensitive_to_adapters(tmp_path):
    """Guards the test above: dropping the adapters from the file changes the features."""
    ref = reference_model()
    state = {k: v for k, v in ref.state_dict().items() if 'my_module' not in k}
    path = tmp_path / 'no_adapters.pth'
    torch.save(prefixed(state, 'backbone.'), path)
    model = tiny(path)
    model.init_weights()
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(model(x)[0], ref(x)[0], atol=1e-3)


# ------------------------------------------------------------------------ (d) mmpeft's own
@pytest.mark.parametrize('runner_style', [True, False])
def test_load_mmpeft_checkpoint(tmp_path, runner_style):
    torch.manual_seed(1)
    src = tiny()
    randomize_(src, seed=21)
    state = src.state_dict()
    if runner_style:
        full = prefixed(state, 'backbone.')
        full.update(fake_detector_keys())
        obj = {'meta': {'epoch': 1, 'iter': 10, 'seed': 0}, 'state_dict': full,
               'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1, 'params': [0, 1]}]}}
    else:
        obj = state
    path = tmp_path / 'mmpeft.pth'
    torch.save(obj, path)
    model = tiny(path)
    model.init_weights()
    own = model.state_dict()
    for k, v in state.items():
        if k.startswith('norm') and k[4].isdigit():
            continue
        assert torch.equal(own[k], v), k
    assert_identity_out_norms(model)
    assert len(trainable_names(model)) == 5 * 2 * 16


def test_layout_detection():
    assert detect_swin_layout({'layers.0.blocks.0.attn.qkv.weight': 0}) == 'microsoft'
    assert detect_swin_layout({'layers.0.blocks.0.my_module_1.gamma': 0}) == 'mona-official'
    assert detect_swin_layout({'stages.0.blocks.0.attn.w_msa.qkv.weight': 0}) == 'mmdet'
    assert detect_swin_layout({'stages.0.blocks.0.mona2.gamma': 0}) == 'mmpeft'
    assert detect_swin_layout({'conv1.weight': 0}) == 'unknown'
    with pytest.raises(CheckpointMismatchError, match='mixes'):
        detect_swin_layout({'stages.0.x': 0, 'layers.0.x': 0})


# ------------------------------------------------------------------------------ window size
def test_relative_position_tables_resized_for_other_window(tmp_path, source_swin):
    path = tmp_path / 'w7.pth'
    torch.save({'model': mmdet_to_microsoft(source_swin.state_dict())}, path)
    model = tiny(path, window_size=12)
    model.init_weights()
    key = 'stages.1.blocks.0.attn.w_msa.relative_position_bias_table'
    src = source_swin.state_dict()[key]  # (13*13, 2)
    expected = F.interpolate(
        src.permute(1, 0).reshape(1, 2, 13, 13), size=(23, 23),
        mode='bicubic').view(2, 23 * 23).permute(1, 0)
    torch.testing.assert_close(model.state_dict()[key], expected)
    other = 'stages.1.blocks.0.attn.w_msa.qkv.weight'
    assert torch.equal(model.state_dict()[other], source_swin.state_dict()[other])
    with torch.no_grad():
        assert [o.shape[1] for o in model.eval()(torch.randn(1, 3, 100, 80))] == [32, 64, 128, 256]


# ----------------------------------------------------------------------------------- errors
def test_missing_file_is_reported(tmp_path):
    path = tmp_path / 'does_not_exist.pth'
    model = tiny(path)
    with pytest.raises(FileNotFoundError, match='does_not_exist.pth'):
        model.init_weights()


def test_resnet_like_checkpoint_is_refused(tmp_path):
    from mmdet.models.backbones import ResNet
    path = tmp_path / 'resnet.pth'
    torch.save({'state_dict': prefixed(ResNet(depth=18).state_dict(), 'backbone.')}, path)
    model = tiny(path)
    with pytest.raises(CheckpointMismatchError, match=r'<90% matched') as err:
        model.init_weights()
    assert 'resnet.pth' in str(err.value) and '0.0%' in str(err.value)


def test_other_depth_swin_is_refused(tmp_path):
    torch.manual_seed(0)
    small = SwinTransformer(**dict(TINY, depths=(1, 1, 1, 1)))
    path = tmp_path / 'shallow.pth'
    torch.save(small.state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match=r'<90% matched'):
        tiny(path, depths=(1, 1, 6, 1)).init_weights()


def test_a_base_missing_frozen_weights_is_refused_unless_allowed(tmp_path, source_swin, log_lines):
    """96% coverage is not enough: the missing block would train random and frozen. With
    allow_missing=True it loads, the warning names the block, and it keeps its own init."""
    state = {k: v for k, v in source_swin.state_dict().items()
             if not k.startswith('stages.0.blocks.0.')}
    path = tmp_path / 'partial.pth'
    torch.save(state, path)
    ratio = sum(v.numel() for k, v in state.items() if 'relative_position_index' not in k) / sum(
        p.numel() for p in source_swin.parameters())
    assert 0.9 < ratio < 1.0
    with pytest.raises(CheckpointMismatchError, match=r'are not in the checkpoint') as err:
        tiny(path).init_weights()
    assert 'stages.0.blocks.0.' in str(err.value) and 'allow_missing=True' in str(err.value)
    model = tiny(init_cfg=dict(type='Pretrained', checkpoint=str(path), allow_missing=True))
    before = model.stages[0].blocks[0].attn.w_msa.qkv.weight.clone()
    model.init_weights()
    assert torch.equal(model.stages[0].blocks[0].attn.w_msa.qkv.weight, before)
    assert torch.equal(model.stages[2].blocks[1].attn.w_msa.qkv.weight,
                       state['stages.2.blocks.1.attn.w_msa.qkv.weight'])
    assert any('missing keys' in r and 'stages.0.blocks.0.' in r for r in log_lines)
    assert 'stages.0.blocks.0.attn.w_msa.qkv.weight' not in model.pretrained_report.loaded


def test_empty_and_corrupt_files_are_named_as_such(tmp_path):
    from mmpeft.compat import CorruptCheckpointError
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CorruptCheckpointError, match=r'empty.pth: the file is empty'):
        tiny(empty).init_weights()
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CorruptCheckpointError, match='junk.pth: it is not a PyTorch checkpoint'):
        tiny(junk).init_weights()


class Evil:
    """A class no checkpoint may unpickle (``argparse.Namespace``, which reference codebases keep
    beside their weights, is allowed: ``tests/test_models/test_peft/test_zoo_vit.py``)."""


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'cfg': Evil()}, path)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        tiny(path).init_weights()


def test_shape_mismatch_is_refused(tmp_path, source_swin):
    state = OrderedDict(source_swin.state_dict())
    key = 'stages.2.blocks.1.ffn.layers.0.0.weight'
    state[key] = torch.randn(100, 128)
    path = tmp_path / 'bad_shape.pth'
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError, match='wrong shape') as err:
        tiny(path).init_weights()
    assert key in str(err.value) and 'bad_shape.pth' in str(err.value)
    assert '(100, 128)' in str(err.value) and '(512, 128)' in str(err.value)


def test_wider_swin_is_refused(tmp_path):
    torch.manual_seed(0)
    wide = SwinTransformer(**dict(TINY, embed_dims=48))
    path = tmp_path / 'wide.pth'
    torch.save(wide.state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match='wrong shape'):
        tiny(path).init_weights()


def test_failed_load_keeps_freezing(tmp_path):
    path = tmp_path / 'resnet_like.pth'
    torch.save({'conv1.weight': torch.randn(8, 3, 7, 7)}, path)
    model = tiny(path)
    expected = trainable_names(model)
    with pytest.raises(CheckpointMismatchError):
        model.init_weights()
    assert trainable_names(model) == expected


# -------------------------------------------------------------------------------- converter
def test_converter_roundtrip(tmp_path):
    ref = reference_model(seed=3)
    src = tmp_path / 'mona_official.pth'
    dst = tmp_path / 'converted.pth'
    official_mona_checkpoint(ref, src)
    ckpt = torch.load(src, weights_only=True)
    ckpt['state_dict']['backbone.head.weight'] = torch.randn(5, 256)  # classification leftovers
    ckpt['state_dict']['backbone.norm.weight'] = torch.randn(256)
    torch.save(ckpt, src)
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tools/model_converters/mona2mmpeft.py'), str(src),
         str(dst)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'mona-official' in proc.stdout

    out = torch.load(dst, weights_only=True)
    assert type(out) is dict and all(isinstance(v, torch.Tensor) for v in out.values())
    assert all(k.startswith('backbone.stages.') or k.startswith('backbone.patch_embed.')
               for k in out)
    assert 'backbone.stages.0.blocks.0.mona1.project1.weight' in out
    assert not any('neck' in k or 'attn_mask' in k or 'relative_position_index' in k for k in out)
    assert 'backbone.head.weight' not in out and 'backbone.norm.weight' not in out

    x = torch.randn(1, 3, 75, 101, dtype=torch.float64)
    with torch.no_grad():
        expected = ref.double()(x)
    # through init_cfg
    model = tiny(dst)
    model.init_weights()
    with torch.no_grad():
        for a, b in zip(model.eval().double()(x), expected):
            torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
    # through load_from (mmengine's runner checkpoint loader on a whole model)
    holder = nn.Module()
    holder.backbone = tiny()
    holder.neck = nn.Conv2d(256, 8, 1)
    load_checkpoint(holder, str(dst), map_location='cpu', strict=False)
    with torch.no_grad():
        for a, b in zip(holder.backbone.eval().double()(x), expected):
            torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
    assert len(trainable_names(holder.backbone)) == 5 * 2 * 16


def test_converter_rejects_non_swin(tmp_path):
    src = tmp_path / 'x.pth'
    torch.save({'conv1.weight': torch.zeros(1)}, src)
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tools/model_converters/mona2mmpeft.py'), str(src),
         str(tmp_path / 'y.pth')], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode != 0
    assert 'no Swin keys' in proc.stderr
    assert not (tmp_path / 'y.pth').exists()
