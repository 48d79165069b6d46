"""CheckpointLoadHook, a default hook of every runner: resumes and tests load only checkpoints that
fit, a run resumed past its schedule says so."""
import logging
import time
import uuid

import pytest
import torch
from mmengine.runner import Runner

import mmpeft  # noqa: F401
from mmpeft.checkpoint import CheckpointMismatchError
from mmpeft.engine.checkpoint import check_checkpoint_fits
from mmpeft.engine.hooks import CheckpointLoadHook
from mmpeft.models.backbones import MonaSwinTransformer

from tiny_runner import SWIN, TinyData, TinyDetector

pytestmark = pytest.mark.usefixtures('clean_mmengine_globals')


def make_runner(work_dir, model=None, max_iters=2, checkpoint_load='default', **kw) -> Runner:
    default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2))
    if checkpoint_load != 'default':
        default_hooks['checkpoint_load'] = checkpoint_load
    return Runner(
        model=model if model is not None else TinyDetector(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=TinyData(), batch_size=2, num_workers=0,
                              sampler=dict(type='InfiniteSampler', shuffle=False),
                              collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        default_hooks=default_hooks, log_processor=dict(by_epoch=False),
        default_scope='mmdet', experiment_name=f'load_{time.time()}_{uuid.uuid4().hex[:8]}', **kw)


def test_every_runner_has_it_and_a_config_can_remove_it(tmp_path):
    runner = make_runner(tmp_path / 'a')
    assert sum(isinstance(h, CheckpointLoadHook) for h in runner.hooks) == 1
    runner = make_runner(tmp_path / 'b', checkpoint_load=None)
    assert not any(isinstance(h, CheckpointLoadHook) for h in runner.hooks)
    runner = make_runner(tmp_path / 'c', checkpoint_load=dict(type='CheckpointLoadHook',
                                                                strict=True))
    hooks = [h for h in runner.hooks if isinstance(h, CheckpointLoadHook)]
    assert len(hooks) == 1 and hooks[0].strict


def test_resume_past_the_schedule_is_an_error_and_at_its_end_a_warning(tmp_path, caplog):
    make_runner(tmp_path, max_iters=4).train()  # writes iter_2.pth and iter_4.pth
    with pytest.raises(RuntimeError, match=r'nothing to train.*iter 4.*max_iters=2'):
        make_runner(tmp_path, max_iters=2, resume=True,
                    load_from=str(tmp_path / 'iter_4.pth')).train()
    runner = make_runner(tmp_path, max_iters=4, resume=True,
                         load_from=str(tmp_path / 'iter_4.pth'))
    runner.train()
    assert runner.iter == 4
    assert 'the end of its schedule: nothing is left to train' in open(
        runner.logger.log_file).read()


def test_resume_of_another_models_checkpoint_names_it(tmp_path):
    make_runner(tmp_path, max_iters=2).train()  # plain Swin detector
    mona = TinyDetector(backbone=MonaSwinTransformer(**SWIN, mona_cfg=dict(inner_dims=8)))
    runner = make_runner(tmp_path, model=mona, max_iters=4, resume=True,
                         load_from=str(tmp_path / 'iter_2.pth'))
    with pytest.raises(CheckpointMismatchError) as err:
        runner.train()
    msg = str(err.value)
    assert 'iter_2.pth does not fit the model' in msg and 'missing' in msg
    assert 'backbone (' in msg and '.mona1.' in msg
    assert 'this config builds TinyDetector(backbone=MonaSwinTransformer)' in msg


def test_fit_check_groups_what_is_missing_and_names_the_saved_model():
    model = TinyDetector()
    state = {k: v for k, v in model.state_dict().items() if k.startswith('backbone.')}
    cfg_text = "model = dict(type='CascadeRCNN', backbone=dict(type='HSTViT'))\n"
    with pytest.raises(CheckpointMismatchError) as err:
        check_checkpoint_fits(model, dict(state_dict=state, meta=dict(cfg=cfg_text)), 'x.pth')
    msg = str(err.value)
    assert 'missing (4): neck (2), head (2); e.g. neck.weight, neck.bias, head.weight' in msg
    assert 'saved from CascadeRCNN(backbone=HSTViT)' in msg
    full = dict(state_dict={'module.' + k: v for k, v in model.state_dict().items()})
    check_checkpoint_fits(model, full, 'y.pth')  # a DDP-prefixed complete checkpoint fits
    bad = dict(full['state_dict'], **{'module.head.weight': torch.zeros(5, 5)})
    with pytest.raises(CheckpointMismatchError, match=r'other shape \(1\): head.weight'):
        check_checkpoint_fits(model, dict(state_dict=bad), 'z.pth')


def test_strict_loading_refuses_a_partial_checkpoint(tmp_path):
    model = TinyDetector()
    torch.save(dict(state_dict={k: v for k, v in model.state_dict().items()
                                if k.startswith('backbone.')}), tmp_path / 'backbone.pth')
    loose = make_runner(tmp_path / 'loose')
    loose.load_checkpoint(str(tmp_path / 'backbone.pth'))  # load_from may be partial
    strict = make_runner(tmp_path / 's', checkpoint_load=dict(type='CheckpointLoadHook',
                                                              strict=True))
    with pytest.raises(CheckpointMismatchError, match='testing would run with 4 of its'):
        strict.load_checkpoint(str(tmp_path / 'backbone.pth'))
    logging.shutdown()
