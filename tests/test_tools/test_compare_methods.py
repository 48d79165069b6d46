"""tools/analysis/compare_methods.py: the ten methods of a task side by side, measured, plotted."""
import os.path as osp
import sys

import pytest

from e2e_utils import REPO

sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))
import compare_methods  # noqa: E402

TINY = """_base_ = '{base}'
model = dict(
    backbone=dict(embed_dims=16, depths=[1, 1, 1, 2], num_heads=[1, 1, 2, 2], drop_path_rate=0.0),
    neck=dict(in_channels=[32, 64, 128], out_channels=16),
    bbox_head=dict(in_channels=16, feat_channels=16, stacked_convs=1))
"""


@pytest.fixture(scope='module')
def tiny_voc(tmp_path_factory):
    """The ten VOC configs with a tiny Swin-L-shaped backbone and RetinaNet head."""
    d = tmp_path_factory.mktemp('voc')
    for m in compare_methods.METHODS:
        name = compare_methods.TASKS['voc'].format(m)
        (d / name).write_text(TINY.format(base=osp.join(REPO, 'configs', 'mona', name)))
    for m, folder in compare_methods.ZOO_FOLDERS.items():  # the other methods, same recipe
        name = compare_methods.TASKS['voc'].format(m)
        (d / folder).mkdir(exist_ok=True)
        text = TINY.format(base=osp.join(REPO, 'configs', folder, name))
        if m == 'kadaptation':  # 16 Kronecker terms: the tiny widths are not multiples of 32
            text = text.replace('drop_path_rate=0.0', 'drop_path_rate=0.0, method=dict(n=16)')
        if m == 'colin':  # rank 8: the tiny width (16) is below the default rank (28)
            text = text.replace('drop_path_rate=0.0', 'drop_path_rate=0.0, method=dict(rank=8)')
        (d / folder / name).write_text(text)
    return str(d)


def test_every_task_has_its_ten_configs():
    for task in compare_methods.TASKS:
        configs = compare_methods.task_configs(task, osp.join(REPO, 'configs', 'mona'))
        assert list(configs) == list(compare_methods.METHODS)
        configs = compare_methods.task_configs(task, osp.join(REPO, 'configs', 'mona'),
                                               osp.join(REPO, 'configs'))
        dense = task in compare_methods.ZOO_TASKS  # the other methods: dense tasks only
        assert list(configs) == list(
            compare_methods.ALL_METHODS if dense else compare_methods.METHODS)
        assert all(osp.isfile(p) for p in configs.values())
    with pytest.raises(SystemExit, match='no config for 10 method'):
        compare_methods.task_configs('voc', REPO)
    with pytest.raises(SystemExit, match='no config for 6 method'):
        compare_methods.task_configs('voc', osp.join(REPO, 'configs', 'mona'), REPO)


def test_table_bench_and_plot(tiny_voc, tmp_path):
    png = tmp_path / 'voc.png'
    rows = compare_methods.main(['voc', '--configs-dir', tiny_voc, '--zoo-dir', tiny_voc,
                                 '--bench', '--no-memory',
                                 '--img-size', '64', '--iters', '1', '--warmup', '0',
                                 '--plot', str(png), '--json', str(tmp_path / 'voc.json')])
    by = {r['method']: r for r in rows}
    assert [r['method'] for r in rows] == list(compare_methods.ALL_METHODS)
    assert by['full']['share'] < 1 and by['full']['share'] > 0.99  # patch embedding frozen
    assert by['fixed']['backbone_trainable'] == 0
    assert 0 < by['norm-tuning']['share'] < by['bitfit']['share'] < by['partial-1']['share']
    for m in ('adapter', 'adaptformer', 'lora', 'lorand', 'mona', 'ssf', 'fact-tt', 'fact-tk',
              'kadaptation', 'convpass', 'colin'):
        assert 0 < by[m]['share'] < 0.5
    # the trainable-only file: everything for full fine-tuning, less for every other method
    assert all(by[m]['ckpt_small'] < by['full']['ckpt_small'] for m in by if m != 'full')
    assert by['full']['step_ratio'] == 1.0 and all(r['step'] > 0 for r in rows)
    assert png.is_file() and png.stat().st_size > 10_000
    assert (tmp_path / 'voc.json').is_file()
