"""End to end through tools/: the classification configs (mmpretrain's ImageClassifier with a PEFT
Swin), shrunk to a tiny Swin on synthetic data in the datasets' real layouts, train one epoch and
are then tested: Flowers102 (single-label, top-1) and VOC2007 multi-label (mAP)."""
import glob
import os.path as osp
import re

import pytest

from mmpeft.testing import make_flowers102, make_voc_cls

from e2e_utils import (
    MONA_LOG,
    metrics_from_log,
    python_tool,
    shrink_config,
    write_tiny_swin_checkpoint,
)

# one epoch; evaluated by tools/test.py only
SCHEDULE = {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 2}
SIZE_FACTOR = 0.25  # 224 / 256 px crops -> 56 / 64 px on the 64-96 px synthetic images


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    return write_tiny_swin_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'swin_tiny.pth'))


def train_then_test(config: str, data_root: str, tmp_path, ckpt: str, extra=None) -> dict:
    """Train ``config`` (under configs/) shrunk onto ``data_root`` for one epoch, test the saved
    checkpoint; returns the metrics tools/test.py printed."""
    cfg = shrink_config(config, data_root, ckpt, str(tmp_path / 'cfg.py'), SCHEDULE, SIZE_FACTOR,
                        extra)
    work = str(tmp_path / 'work')
    train = python_tool('train.py', cfg, '--work-dir', work)
    log = train.stdout + train.stderr
    assert train.returncode == 0, log[-6000:]
    assert re.search(MONA_LOG, log), log[-3000:]
    saved = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(saved), sorted(glob.glob(work + '/*'))
    test = python_tool('test.py', cfg, saved, '--work-dir', str(tmp_path / 'test'))
    assert test.returncode == 0, (test.stdout + test.stderr)[-6000:]
    return metrics_from_log(test.stdout + test.stderr)


def test_flowers102_mona_trains_and_tests_top1(tmp_path, tiny_ckpt):
    root = str(tmp_path / 'flowers102')
    make_flowers102(root, num_train=2, num_val=2, num_test=4, num_classes=4)
    shown = train_then_test('mona/swin-l-mona_4xb4-100e_flowers102-224px.py', root, tmp_path,
                            tiny_ckpt)
    assert 'accuracy/top1' in shown and 'accuracy/top5' in shown, shown
    assert 0.0 <= shown['accuracy/top1'] <= shown['accuracy/top5'] <= 100.0, shown


def test_voc07_multilabel_mona_trains_and_tests_map(tmp_path, tiny_ckpt):
    root = str(tmp_path / 'voc')
    make_voc_cls(root, num_train=2, num_val=4)
    shown = train_then_test('mona/swin-l-mona_4xb4-100e_voc07-multilabel-224px.py',
                            osp.join(root, 'VOCdevkit', 'VOC2007'), tmp_path, tiny_ckpt)
    assert 'multi-label/mAP' in shown, shown
    assert 0.0 <= shown['multi-label/mAP'] <= 100.0, shown
