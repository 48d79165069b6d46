"""End to end through tools/: each task family's real Mona config, shrunk to a tiny Swin on a
synthetic dataset in that family's format, trains a few iterations and is then tested."""
import os.path as osp
import re
from typing import Callable

import pytest

from mmpeft.testing import make_dataset

from e2e_utils import (
    FAMILIES,
    FULL_FT,
    dist_train_voc,
    metrics_from_log,
    python_tool,
    shrink_config,
    train_then_test,
    write_tiny_swin_checkpoint,
)


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    return write_tiny_swin_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'swin_tiny.pth'))


def cfg_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def refuses_checkpoints_that_do_not_fit(tmp_path, base: str) -> Callable[[str, str], None]:
    """tools/test.py on files that would leave the model (partly) random: the raw pretrained
    backbone, a backbone-only conversion of the trained checkpoint and an empty file are refused
    with what is missing; --allow-partial-checkpoint evaluates anyway."""

    def check(cfg: str, saved: str) -> None:
        converted = str(tmp_path / 'converted.pth')
        conv = python_tool('model_converters/mona2mmpeft.py', saved, converted)
        assert conv.returncode == 0, conv.stderr[-2000:]
        empty = tmp_path / 'empty.pth'
        empty.write_bytes(b'')
        for ckpt, expected in ((base, r'does not fit the model of this config: testing would '
                                      r'run with \d+ of its \d+ tensors'),
                               (converted, r'missing \(\d+\): bbox_head'),
                               (str(empty), r'empty.pth: the file is empty')):
            out = python_tool('test.py', cfg, ckpt, '--work-dir', str(tmp_path / 'refused'))
            assert out.returncode != 0 and re.search(expected, out.stderr), (
                ckpt, out.stderr[-3000:])
            assert not metrics_from_log(out.stdout + out.stderr)
        out = python_tool('test.py', cfg, converted, '--work-dir', str(tmp_path / 'partial'),
                          '--allow-partial-checkpoint')
        assert out.returncode == 0, out.stderr[-3000:]
        assert any(k.endswith('mAP') for k in metrics_from_log(out.stdout + out.stderr))

    return check


@pytest.mark.parametrize('fmt', sorted(FAMILIES))
def test_mona_config_trains_and_tests(fmt, tmp_path, tiny_ckpt):
    check_test = refuses_checkpoints_that_do_not_fit(tmp_path, tiny_ckpt) if fmt == 'voc' else None
    train_then_test(FAMILIES[fmt], fmt, tmp_path, tiny_ckpt, check_test=check_test)


def test_full_finetuning_config_trains_and_tests(tmp_path, tiny_ckpt):
    train_then_test(FULL_FT, 'voc', tmp_path, tiny_ckpt)


def test_dist_train_two_cpu_processes_on_a_mona_config(tmp_path, tiny_ckpt):
    """``tools/dist_train.sh CONFIG 2`` (torchrun, gloo on CPU) on the VOC Mona config."""
    out = dist_train_voc(FAMILIES['voc']['config'], tmp_path, tiny_ckpt)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    assert osp.isfile(osp.join(tmp_path, 'work', 'epoch_1.pth'))
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
