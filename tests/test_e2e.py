"""End to end through tools/: each task family's real Mona config, shrunk to a tiny Swin on a
synthetic dataset in that family's format, trains a few iterations and is then tested."""
import glob
import re
import os.path as osp
from typing import Callable, Optional

import pytest
from mmdet.datasets import CocoDataset

from e2e_utils import metrics_from_log, python_tool, shrink_config, write_tiny_swin_checkpoint
from mmpeft.datasets import make_dataset

FAMILIES = {
    'coco': dict(
        config='mona/cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_coco.py',
        # all 80 category names, so that every label the untrained model predicts has an id
        data=dict(num_train=4, num_val=2, classes=CocoDataset.METAINFO['classes']),
        schedule={'train_cfg.max_epochs': 1},
        size_factor=0.32,
        # after 2 iterations no class score passes the usual 0.05: keep every box so that the
        # COCO metric has something to evaluate
        extra={'model.test_cfg.rcnn.score_thr': 0.0},
        ckpt='epoch_1.pth',
        metrics=('coco/bbox_mAP', 'coco/segm_mAP')),
    'ade20k': dict(
        config='mona/upernet_swin-l-mona_8xb2-160k_ade20k-512x512.py',
        data=dict(num_train=4, num_val=2),
        schedule={'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
                  'default_hooks.checkpoint.interval': 2},
        size_factor=0.5,
        ckpt='iter_2.pth',
        metrics=('mIoU', 'aAcc')),
    'voc': dict(
        config='mona/retinanet_swin-l-mona_fpn_1x_voc0712.py',
        data=dict(num_train=2, num_val=2, num_train_2012=2),
        data_subdir='VOCdevkit',
        schedule={'train_cfg.max_epochs': 1},
        size_factor=0.43,
        ckpt='epoch_1.pth',
        metrics=('pascal_voc/mAP', )),
    'dota': dict(
        config='mona/oriented-rcnn-le90_swin-b-mona_fpn_1x_dota.py',
        data=dict(num_train=4, num_val=2),
        schedule={'train_cfg.max_epochs': 1},
        size_factor=0.25,
        ckpt='epoch_1.pth',
        metrics=('dota/mAP', )),
}
FULL_FT = dict(FAMILIES['voc'], config='mona/retinanet_swin-l-full_fpn_1x_voc0712.py',
               expect_log=r"type='PlainSwinTransformer'")
MONA_LOG = r'MonaSwinTransformer: [\d,]+ trainable of [\d,]+ parameters'


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    return write_tiny_swin_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'swin_tiny.pth'))


def train_then_test(family: dict, fmt: str, tmp_path, ckpt: str,
                    check_train: Optional[Callable[[str, str], None]] = None) -> None:
    """Train ``family['config']`` shrunk onto synthetic ``fmt`` data, then test its checkpoint.

    The training log must match ``family['expect_log']`` (default: the Mona backbone's parameter
    line); ``check_train(train_log, checkpoint_path)`` adds method-specific checks.
    """
    root = str(tmp_path / 'data')
    make_dataset(fmt, root, **family['data'])
    cfg = shrink_config(family['config'], osp.join(root, family.get('data_subdir', '')), ckpt,
                        str(tmp_path / 'cfg.py'), family['schedule'], family['size_factor'],
                        family.get('extra'))
    work = str(tmp_path / 'work')
    train = python_tool('train.py', cfg, '--work-dir', work)
    log = train.stdout + train.stderr
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-5000:]
    saved = osp.join(work, family['ckpt'])
    assert osp.isfile(saved), sorted(glob.glob(work + '/*'))
    assert re.search(family.get('expect_log', MONA_LOG), log), log[-3000:]
    if check_train is not None:
        check_train(log, saved)

    test_dir = str(tmp_path / 'test')
    test = python_tool('test.py', cfg, saved, '--work-dir', test_dir,
                       '--out', str(tmp_path / 'preds.pkl'))
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-5000:]
    shown = metrics_from_log(test.stdout + test.stderr)
    for key in family['metrics']:
        assert any(k.endswith(key) for k in shown), (key, shown, test.stdout[-2000:])
    logs = glob.glob(osp.join(test_dir, '*', '*.log'))
    assert logs, 'tools/test.py wrote no log'
    written = metrics_from_log(open(logs[0]).read())
    assert any(k.endswith(family['metrics'][0]) for k in written), written
    assert osp.getsize(str(tmp_path / 'preds.pkl')) > 0


def cfg_text(path: str) -> str:
    with open(path) as f:
        return f.read()


@pytest.mark.parametrize('fmt', sorted(FAMILIES))
def test_mona_config_trains_and_tests(fmt, tmp_path, tiny_ckpt):
    train_then_test(FAMILIES[fmt], fmt, tmp_path, tiny_ckpt)


def test_full_finetuning_config_trains_and_tests(tmp_path, tiny_ckpt):
    train_then_test(FULL_FT, 'voc', tmp_path, tiny_ckpt)


def test_dist_train_two_cpu_processes_on_a_mona_config(tmp_path, tiny_ckpt):
    """``tools/dist_train.sh CONFIG 2`` (torchrun, gloo on CPU) on the VOC Mona config."""
    import sys

    from e2e_utils import REPO, free_port, run_tool
    family = FAMILIES['voc']
    root = str(tmp_path / 'data')
    make_dataset('voc', root, **family['data'])
    cfg = shrink_config(family['config'], osp.join(root, 'VOCdevkit'), tiny_ckpt,
                        str(tmp_path / 'cfg.py'), {'train_cfg.max_epochs': 1,
                                                   'train_cfg.val_interval': 10},
                        family['size_factor'])
    work = str(tmp_path / 'work')
    out = run_tool(['bash', osp.join(REPO, 'tools', 'dist_train.sh'), cfg, '2', '--work-dir',
                    work], env=dict(PYTHON=sys.executable, PORT=str(free_port())))
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    assert 'Distributed launcher: pytorch' in log or "'launcher': 'pytorch'" in log or \
        'launcher = \'pytorch\'' in log or 'world_size: 2' in log, log[-3000:]


def test_killed_run_resumes_to_the_end(tmp_path, tiny_ckpt):
    """Kill a training run right after its first checkpoint, then ``--resume`` it to the end."""
    import signal
    import subprocess
    import sys
    import time

    from e2e_utils import REPO
    family = FAMILIES['ade20k']
    root = str(tmp_path / 'data')
    make_dataset('ade20k', root, **family['data'])
    cfg = shrink_config(family['config'], root, tiny_ckpt, str(tmp_path / 'cfg.py'),
                        {'train_cfg.max_iters': 6, 'train_cfg.val_interval': 100,
                         'default_hooks.checkpoint.interval': 2}, family['size_factor'])
    work = str(tmp_path / 'work')
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg, '--work-dir', work]
    env = dict(__import__('os').environ, PYTHONPATH=REPO)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not osp.isfile(osp.join(work, 'last_checkpoint')) and time.time() < deadline:
        assert proc.poll() is None, 'training ended before its first checkpoint'
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    assert not osp.isfile(osp.join(work, 'iter_6.pth'))

    resumed = python_tool('train.py', cfg, '--work-dir', work, '--resume')
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-5000:]
    assert 'resumed' in log.lower()
    assert osp.isfile(osp.join(work, 'iter_6.pth'))
    assert not re.search(r'Iter\(train\) \[\s*1/6\]', log), 'restarted from scratch'
