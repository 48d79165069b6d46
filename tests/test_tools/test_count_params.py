"""tools/analysis/count_params.py on small mmdet, mmseg and mmrotate configs (subprocess)."""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope, init_default_scope

import mmpeft  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis' / 'count_params.py'
TINY_SWIN = ("embed_dims=16, depths=(1, 1, 1, 2), num_heads=(1, 1, 1, 1), window_size=7")

CONFIGS = {
    'det_bitfit': f"""
        _base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
        model = dict(
            backbone=dict(_delete_=True, type='SwinTransformer', {TINY_SWIN},
                          out_indices=(0, 1, 2, 3)),
            neck=dict(in_channels=[16, 32, 64, 128]))
        custom_hooks = [dict(type='FreezeBackboneHook', module='backbone', trainable=['bias'])]
        """,
    'seg_norm': f"""
        _base_ = 'mmseg::_base_/models/upernet_swin.py'
        default_scope = 'mmseg'
        model = dict(
            backbone=dict({TINY_SWIN}),
            decode_head=dict(in_channels=[16, 32, 64, 128], channels=32),
            auxiliary_head=dict(in_channels=64, channels=16))
        custom_hooks = [dict(type='FreezeBackboneHook', trainable=['norm'])]
        """,
    'rot_partial1': f"""
        _base_ = 'mmrotate::rotated_retinanet/rotated-retinanet-rbox-le90_r50_fpn_1x_dota.py'
        model = dict(
            backbone=dict(_delete_=True, type='mmdet.SwinTransformer', {TINY_SWIN},
                          out_indices=(1, 2, 3)),
            neck=dict(in_channels=[32, 64, 128], start_level=0))
        custom_hooks = [dict(type='FreezeBackboneHook', trainable=['stages.3.blocks.1'],
                             max_trainable_ratio=0.1)]
        """,
    'det_mona': f"""
        _base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'
        model = dict(
            backbone=dict(_delete_=True, type='MonaSwinTransformer', {TINY_SWIN},
                          out_indices=(1, 2, 3), mona_cfg=dict(inner_dims=8)),
            neck=dict(in_channels=[32, 64, 128], start_level=0))
        custom_hooks = [dict(type='FreezeBackboneHook', trainable=['mona'])]
        """,
    'det_nohook': f"""
        _base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'
        model = dict(
            backbone=dict(_delete_=True, type='SwinTransformer', {TINY_SWIN},
                          out_indices=(1, 2, 3)),
            neck=dict(in_channels=[32, 64, 128], start_level=0))
        """,
}
PATTERNS = {'det_bitfit': ['bias'], 'seg_norm': ['norm'], 'rot_partial1': ['stages.3.blocks.1'],
            'det_mona': ['mona'], 'det_nohook': None}


@pytest.fixture(autouse=True)
def _clean_scope():
    yield
    DefaultScope._instance_dict.clear()


def write_config(tmp_path: Path, key: str) -> Path:
    path = tmp_path / f'{key}.py'
    path.write_text(textwrap.dedent(CONFIGS[key]))
    return path


def run_tool(config: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    return subprocess.run([sys.executable, str(TOOL), str(config), *extra], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def parse_rows(text: str) -> Dict[str, Tuple[int, int]]:
    rows = {}
    for line in text.splitlines():
        m = re.match(r'^(\S+)\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)%$', line)
        if m:
            rows[m.group(1)] = (int(m.group(2).replace(',', '')),
                                int(m.group(3).replace(',', '')))
    return rows


def expected_rows(config: Path, patterns) -> Dict[str, Tuple[int, int]]:
    """Counts computed here from the built model: backbone params trainable iff a pattern is a
    substring of their name (or as built when there is no hook); everything else trainable."""
    cfg = Config.fromfile(str(config))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    rows: Dict[str, Tuple[int, int]] = {}
    for child, module in model.named_children():
        params: List = list(module.named_parameters())
        if not params:
            continue
        if child == 'backbone' and patterns is not None:
            t = sum(p.numel() for n, p in params if any(s in n for s in patterns))
        else:
            t = sum(p.numel() for _, p in params if p.requires_grad)
        rows[child] = (t, sum(p.numel() for _, p in params))
    rows['total'] = (sum(t for t, _ in rows.values()), sum(n for _, n in rows.values()))
    return rows


@pytest.mark.parametrize('key', list(CONFIGS))
def test_count_params_tool(tmp_path, key):
    config = write_config(tmp_path, key)
    proc = run_tool(config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    rows = parse_rows(out)
    expected = expected_rows(config, PATTERNS[key])
    assert rows == expected, out
    bb_t, bb_n = expected['backbone']
    share = re.search(r'backbone trainable share: ([\d.]+)% \(([\d,]+) / ([\d,]+)\)', out)
    assert share is not None, out
    assert int(share.group(2).replace(',', '')) == bb_t
    assert int(share.group(3).replace(',', '')) == bb_n
    assert float(share.group(1)) == pytest.approx(100 * bb_t / bb_n, abs=0.006)
    if key == 'det_nohook':
        assert 'FreezeBackboneHook' not in out and bb_t == bb_n
    elif key == 'det_mona':
        assert 'verified' in out and 0 < bb_t < bb_n
    else:
        assert 'tensors frozen' in out and 0 < bb_t < bb_n
    if key == 'rot_partial1':  # 39% of this tiny backbone is stages.3.blocks.1
        assert 'WARNING: training would fail' in out and 'max_trainable_ratio=0.1' in out
    else:
        assert 'WARNING' not in out


def test_count_params_cfg_options_and_errors(tmp_path):
    config = write_config(tmp_path, 'det_bitfit')
    proc = run_tool(config, '--cfg-options', "custom_hooks.0.trainable=['norm']")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert parse_rows(proc.stdout) == expected_rows(config_with(tmp_path, ['norm']), ['norm'])

    proc = run_tool(config, '--cfg-options', "custom_hooks.0.trainable=['lora_']")
    assert proc.returncode != 0
    assert "match no parameter of 'backbone'" in proc.stderr


def config_with(tmp_path: Path, patterns: List[str]) -> Path:
    path = tmp_path / 'det_norm.py'
    path.write_text(textwrap.dedent(CONFIGS['det_bitfit']).replace("['bias']", repr(patterns)))
    return path
