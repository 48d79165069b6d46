"""tools/analysis/benchmark_peft.py on tiny configs: table logic, freezing, memory subprocess."""
import os.path as osp
import sys

import pytest

from e2e_utils import REPO  # noqa: E402

sys.path.insert(0, osp.join(REPO, 'tools', 'analysis'))
import benchmark_peft  # noqa: E402

BENCH = osp.join(REPO, 'configs', 'benchmark')
TINY = """_base_ = '{base}'
model = dict(
    backbone=dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], drop_path_rate=0.0),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(in_channels=16, fc_out_channels=32),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(in_channels=16, conv_out_channels=16)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=32)), rpn_proposal=dict(nms_pre=200,
                   max_per_img=100)))
"""


@pytest.fixture(scope='module')
def tiny_configs(tmp_path_factory):
    d = tmp_path_factory.mktemp('bench')
    paths = []
    for name in ('full', 'floor', 'mona-cp'):
        p = d / f'{name}.py'
        p.write_text(TINY.format(base=osp.join(BENCH, f'mask-rcnn_swin-b-{name}_fpn_bench.py')))
        paths.append(str(p))
    return paths


def test_build_applies_floor_and_mona(tiny_configs):
    full, floor, mona = (benchmark_peft.build(c, 'cpu') for c in tiny_configs)
    assert all(p.requires_grad for p in full[0].backbone.parameters())
    assert not any(p.requires_grad for p in floor[0].backbone.parameters())
    assert all(p.requires_grad for p in floor[0].neck.parameters())
    assert floor[2] == dict(input_grad=True)
    names = {n for n, p in mona[0].backbone.named_parameters() if p.requires_grad}
    assert names and all('.mona' in n for n in names)
    assert all(m.with_cp for n, m in mona[0].backbone.named_modules() if n.endswith('mona1'))
    # the floor's backward reaches the input through the frozen backbone, no weight grads
    model, optim, bench, _ = floor
    batch = benchmark_peft.make_batch(64, 1)
    data = model.data_preprocessor(batch, True)
    x = data['inputs'].detach().requires_grad_(True)
    loss, _ = model.parse_losses(model(x, data['data_samples'], mode='loss'))
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.backbone.parameters())


def test_run_table_and_memory(tiny_configs, tmp_path):
    out = tmp_path / 'r.json'
    results = benchmark_peft.main(tiny_configs + ['--img-size', '64', '--batch', '1', '--iters',
                                                  '2', '--warmup', '1', '--infer-iters', '1',
                                                  '--device', 'cpu', '--json', str(out)])
    assert out.is_file()
    full, floor, mona = results
    assert [len(r['steps']) for r in results] == [2, 2, 2]
    assert full['step_ratio'] == 1.0 and full['mem_ratio'] == 1.0
    assert full['share'] == 1.0 and 0 < mona['share'] < floor['share'] + mona['share'] < 1
    assert full['trainable'] > floor['trainable'] and mona['trainable'] > floor['trainable']
    # AdamW keeps two moments (+ a step scalar) per trained parameter
    for r in results:
        assert 2 * 4 * r['trainable'] <= r['optim_state'] <= 2 * 4 * r['trainable'] + 4096
    assert full['ckpt_small'] >= full['ckpt_full'] * 0.99
    assert mona['ckpt_small'] < mona['ckpt_full'] and floor['ckpt_small'] < floor['ckpt_full']
    assert all(r['peak_rss'] > 50 * 2**20 for r in results)
    table = benchmark_peft.table(results, 'cpu')
    assert table.count('\n') == 4 and 'peak RSS' in table and 'mona-cp.py' in table


def test_configs_with_few_classes_and_bad_arguments():
    """The demo config has 4 classes: the batch's labels must fit it; --batch 0 is refused."""
    demo = osp.join(REPO, 'configs', 'demo', 'mask-rcnn_swin-tiny-mona_fpn_synthetic-coco.py')
    results = benchmark_peft.main([demo, '--img-size', '64', '--batch', '1', '--iters', '1',
                                   '--warmup', '0', '--infer-iters', '1', '--device', 'cpu',
                                   '--no-memory'])
    assert len(results) == 1 and results[0]['step'] > 0
    batch = benchmark_peft.make_batch(64, 2, num_classes=4)
    assert all(int(s.gt_instances.labels.max()) < 4 for s in batch['data_samples'])
    for bad in (['--batch', '0'], ['--img-size', '8'], ['--iters', '0']):
        with pytest.raises(SystemExit) as err:
            benchmark_peft.parse_args([demo] + bad)
        assert err.value.code == 2
