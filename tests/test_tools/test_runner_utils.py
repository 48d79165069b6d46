"""tools/runner_utils.py: --resume finds a checkpoint even when last_checkpoint is empty or stale,
and refuses a file that does not exist."""
import os
import os.path as osp
import sys
import time

import pytest
from mmengine.config import Config

from e2e_utils import REPO

sys.path.insert(0, osp.join(REPO, 'tools'))
from runner_utils import latest_checkpoint, resolve_resume  # noqa: E402


def touch(path, age: float = 0.0) -> str:
    with open(path, 'w') as f:
        f.write('x')
    t = time.time() - age
    os.utime(path, (t, t))
    return str(path)


def test_latest_checkpoint_falls_back_to_the_newest_file(tmp_path):
    assert latest_checkpoint(str(tmp_path)) is None
    touch(tmp_path / 'iter_2.pth', age=20)
    newest = touch(tmp_path / 'iter_4.pth', age=10)
    assert latest_checkpoint(str(tmp_path)) == newest  # no last_checkpoint: the newest
    (tmp_path / 'last_checkpoint').write_text('')  # a run killed while writing it
    assert latest_checkpoint(str(tmp_path)) == newest
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_6.pth'))  # deleted since
    assert latest_checkpoint(str(tmp_path)) == newest
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))  # as recorded
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')


def test_resolve_resume(tmp_path):
    cfg = Config(dict(work_dir=str(tmp_path), resume=False, load_from='init.pth'))
    resolve_resume(cfg, 'auto')  # nothing to resume: train from scratch, not from ''
    assert cfg.resume is False and cfg.load_from is None
    ckpt = touch(tmp_path / 'epoch_1.pth')
    (tmp_path / 'last_checkpoint').write_text('')
    resolve_resume(cfg, 'auto')
    assert cfg.resume is True and cfg.load_from == ckpt
    with pytest.raises(FileNotFoundError, match='--resume: checkpoint file not found: nope.pth'):
        resolve_resume(cfg, 'nope.pth')
