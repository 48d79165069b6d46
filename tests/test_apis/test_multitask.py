"""Many tasks on one base (mmpeft.apis.SharedBaseModels, tools/misc/multitask_demo.py): the same
predictions as separately loaded models, one storage for the frozen base, other bases refused."""
import os.path as osp
import sys

import mmcv
import pytest
import torch

from mmpeft.apis import SharedBaseError, SharedBaseModels, inference_model, init_model
from mmpeft.engine.checkpoint import BaseCheckpointMismatchError

from e2e_utils import REPO, write_tiny_swin_checkpoint
from serve_cases import task_config, write_task_files

sys.path.insert(0, osp.join(REPO, 'tools', 'misc'))
import multitask_demo  # noqa: E402

pytestmark = pytest.mark.usefixtures('clean_mmengine_globals')
TASKS = ('det', 'seg', 'rot')


@pytest.fixture(scope='module')
def shared(serve_files):
    tasks = SharedBaseModels()
    for task in TASKS:
        tasks.add(task, serve_files.configs[task], serve_files.small[task])
    return tasks


def outputs(sample) -> dict:
    if 'pred_instances' in sample:
        return {k: sample.pred_instances[k] for k in ('bboxes', 'scores', 'labels')}
    return dict(logits=sample.seg_logits.data, seg=sample.pred_sem_seg.data)


@pytest.mark.parametrize('task', TASKS)
def test_each_task_predicts_as_the_single_task_model(serve_files, shared, task):
    alone = outputs(inference_model(init_model(serve_files.configs[task],
                                               serve_files.small[task]), serve_files.image))
    together = outputs(shared.predict(serve_files.image, [task])[task])
    assert alone.keys() == together.keys()
    assert len(next(iter(alone.values()))) > 0
    for key in alone:
        assert torch.equal(alone[key], together[key]), (task, key)


def test_frozen_base_tensors_share_one_storage(shared):
    models = [shared.models[t] for t in TASKS]
    keys = shared.shared_keys['det']
    frozen = [k for k, p in models[0].named_parameters()
              if k.startswith('backbone.') and not p.requires_grad]
    assert len(keys) > 50 and set(keys) <= set(frozen)
    for task in TASKS[1:]:
        assert shared.shared_keys[task] == keys
    for key in keys:
        ptrs = {m.get_parameter(key).data_ptr() for m in models}
        assert len(ptrs) == 1, key
    # the trained (Mona) tensors stay each task's own
    mona = [k for k, p in models[0].named_parameters() if 'mona' in k and p.requires_grad]
    assert mona
    for key in mona:
        assert len({m.get_parameter(key).data_ptr() for m in models}) == 3, key
    base_bytes = sum(models[0].get_parameter(k).numel() * 4 for k in keys)
    assert shared.shared_bytes() == base_bytes


def test_task_on_another_base_is_refused(serve_files, shared, tmp_path):
    other = write_tiny_swin_checkpoint(str(tmp_path / 'other_base.pth'), seed=7)
    cfg = task_config('seg', other, str(tmp_path / 'seg_other.py'))
    small, _ = write_task_files(cfg, str(tmp_path / 'seg_other'), seed=3)
    tasks = SharedBaseModels()
    tasks.add('det', serve_files.configs['det'], serve_files.small['det'])
    with pytest.raises(SharedBaseError, match=r'another base.*other_base\.pth \(sha256'):
        tasks.add('seg', cfg, small)
    assert list(tasks.models) == ['det']
    # the right file with a config pointing at another base: the config is refused
    with pytest.raises(BaseCheckpointMismatchError, match='other_base.pth'):
        tasks.add('seg', cfg, serve_files.small['seg'])


def test_full_checkpoint_is_refused(serve_files):
    with pytest.raises(SharedBaseError, match='not a trainable-only checkpoint'):
        SharedBaseModels().add('det', serve_files.configs['det'], serve_files.full['det'])


def test_multitask_demo_draws_every_task(serve_files, tmp_path, capsys):
    multitask_demo.main([serve_files.image, '--out-dir', str(tmp_path), '--score-thr', '0',
                         '--task', serve_files.configs['det'], serve_files.small['det'],
                         '--task', serve_files.configs['seg'], serve_files.small['seg']])
    assert '2 tasks share' in capsys.readouterr().out
    original = mmcv.imread(serve_files.image)
    for task in ('det', 'seg'):
        drawn = mmcv.imread(str(tmp_path / task / 'shapes.png'))
        assert drawn.shape == original.shape and (drawn != original).any()
