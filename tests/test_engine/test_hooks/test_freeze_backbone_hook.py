"""FreezeBackboneHook with a real mmengine Runner over a tiny Swin "detector" (CPU).

On a model that does not freeze itself (plain mmdet Swin), the paper's baseline patterns (fixed,
BitFit, norm-tuning, partial-1) must train exactly the parameters they name; the hook must survive
DDP (single-process gloo here, 2 processes in test_dist_train.py) without
``find_unused_parameters``, and resume.
"""
import os
import re
import time
import uuid
from typing import List, Optional, Set

import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import SwinTransformer
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import HOOKS
from mmengine.runner import Runner

import mmpeft  # noqa: F401
from mmpeft.engine.hooks import FreezeBackboneHook
from mmpeft.engine.hooks.freeze_backbone_hook import (
    frozen_in_optimizer,
    remove_frozen_from_optimizer,
)
from mmpeft.models.backbones import MonaSwinTransformer
from mmpeft.models.utils import (
    FreezeConfigError,
    FreezeMismatchError,
    apply_freeze,
    freeze_except,
    pattern_rule,
    resolve_module,
    trainable_table,
)
from mmpeft.models.utils.freeze import frozen_submodules, param_counts

from e2e_utils import free_port
from tiny_runner import SWIN, Snapshot, TinyData, TinyDetector

BASELINES = {'fixed': [], 'bitfit': ['bias'], 'norm': ['norm'],
             'partial1': ['stages.3.blocks.1']}


pytestmark = pytest.mark.usefixtures('clean_mmengine_globals')


@pytest.fixture
def dist_env(monkeypatch):
    """Environment of a 1-process torchrun (gloo on CPU)."""
    for k, v in dict(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()), RANK='0',
                     WORLD_SIZE='1', LOCAL_RANK='0').items():
        monkeypatch.setenv(k, v)


def make_runner(work_dir, hooks: list, model: Optional[nn.Module] = None, max_iters: int = 2,
                optim_wrapper: Optional[dict] = None, launcher: str = 'none',
                param_scheduler=None, ckpt_interval: Optional[int] = None,
                resume: bool = False, load_from: Optional[str] = None) -> Runner:
    cfg = dict()
    if launcher != 'none':
        cfg['model_wrapper_cfg'] = dict(type='MMDistributedDataParallel', device_ids=None,
                                        find_unused_parameters=False)
    default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                         checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                         interval=ckpt_interval or 10**6, save_last=False))
    return Runner(
        model=model if model is not None else TinyDetector(),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=TinyData(), batch_size=2, num_workers=0,
                              sampler=dict(type='InfiniteSampler', shuffle=False),
                              collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=optim_wrapper or dict(
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
        param_scheduler=param_scheduler,
        default_hooks=default_hooks,
        custom_hooks=hooks,
        log_processor=dict(by_epoch=False),
        launcher=launcher,
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        cfg=cfg,
        resume=resume,
        load_from=load_from,
        default_scope='mmdet',
        experiment_name=f'freeze_{time.time()}_{uuid.uuid4().hex[:8]}')


def freeze_to(module: nn.Module, patterns: List[str]) -> None:
    freeze_except(module, pattern_rule(module, patterns))


def model_of(runner: Runner) -> nn.Module:
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


def expected_changed(model: nn.Module, patterns: List[str]) -> Set[str]:
    """Backbone params matching a pattern + every neck/head param (computed independently)."""
    names = set()
    for n, _ in model.named_parameters():
        if n.startswith('backbone.'):
            if any(p in n[len('backbone.'):] for p in patterns):
                names.add(n)
        else:
            names.add(n)
    return names


def optimizer_param_ids(runner: Runner) -> Set[int]:
    return {id(p) for g in runner.optim_wrapper.optimizer.param_groups for p in g['params']}


# --------------------------------------------------------------------------- baselines
OPTIMS = {
    'fixed': None,
    'bitfit': dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4)),
    # paramwise_cfg: one group per parameter, plus a scheduler built on those groups
    'norm': dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                 paramwise_cfg=dict(norm_decay_mult=0.0,
                                    custom_keys={'head': dict(lr_mult=2.0)})),
    'partial1': None,
}


@pytest.mark.parametrize('baseline', list(BASELINES))
def test_baseline_trains_exactly_the_named_parameters(tmp_path, baseline):
    patterns = BASELINES[baseline]
    hook = FreezeBackboneHook(module='backbone', trainable=patterns, max_trainable_ratio=0.5)
    snap = Snapshot()
    sched = (dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=2)
             if baseline == 'norm' else None)
    runner = make_runner(tmp_path, [hook, snap], max_iters=3, optim_wrapper=OPTIMS[baseline],
                         param_scheduler=sched)
    runner.train()

    model = model_of(runner)
    expected = expected_changed(model, patterns)
    assert snap.changed() == expected
    assert any(n.startswith('neck.') for n in expected) and any(n.startswith('head.')
                                                               for n in expected)
    trainable_ids = {id(p) for p in model.parameters() if p.requires_grad}
    assert optimizer_param_ids(runner) == trainable_ids
    assert hook.report.mode == 'frozen'
    n_backbone = sum(1 for n, _ in model.named_parameters() if n.startswith('backbone.'))
    n_trainable_backbone = sum(1 for n in expected if n.startswith('backbone.'))
    assert len(hook.report.changed) == n_backbone - n_trainable_backbone
    assert hook.removed_from_optimizer == n_backbone - n_trainable_backbone
    if baseline == 'fixed':
        assert not any(n.startswith('backbone.') for n in snap.changed())
    if baseline == 'norm':  # groups stayed aligned with the scheduler: head lr is 2x the base
        lrs = {id(p): g['lr'] for g in runner.optim_wrapper.optimizer.param_groups
               for p in g['params']}
        assert lrs[id(model.head.weight)] == pytest.approx(2 * lrs[id(model.neck.weight)])


def test_baseline_names_are_the_papers():
    """The patterns select what the STAR-MMRotate baselines select on mmdet's Swin."""
    model = TinyDetector()
    freeze_to(model.backbone, ['stages.3.blocks.1'])
    names = {n for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert names and all(n.startswith('stages.3.blocks.1.') for n in names)
    assert 'stages.3.blocks.1.attn.w_msa.relative_position_bias_table' in names
    model = TinyDetector()
    freeze_to(model.backbone, ['bias'])
    names = {n for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert 'stages.0.blocks.0.attn.w_msa.relative_position_bias_table' in names  # as in BitFit
    assert 'patch_embed.norm.bias' in names and 'norm3.weight' not in names


# --------------------------------------------------------------------------- errors
def test_pattern_matching_nothing_is_an_error(tmp_path):
    runner = make_runner(tmp_path, [FreezeBackboneHook(trainable=['bias', 'lora_'])])
    with pytest.raises(FreezeConfigError, match=r"\['lora_'\] match no parameter of 'backbone'"):
        runner.train()


def test_missing_module_is_an_error(tmp_path):
    runner = make_runner(tmp_path, [FreezeBackboneHook(module='backbone.nonexistent',
                                                       trainable=['bias'])])
    with pytest.raises(FreezeConfigError, match="'backbone.nonexistent' does not exist"):
        runner.train()
    with pytest.raises(FreezeConfigError, match='does not exist'):
        resolve_module(TinyDetector(), 'neckk')
    with pytest.raises(TypeError):
        FreezeBackboneHook(trainable='bias')


def test_max_trainable_ratio_guard(tmp_path):
    model = TinyDetector()
    bias = sum(p.numel() for n, p in model.backbone.named_parameters() if 'bias' in n)
    total = sum(p.numel() for p in model.backbone.parameters())
    ratio = bias / total
    hook = FreezeBackboneHook(trainable=['bias'], max_trainable_ratio=ratio * 0.99)
    runner = make_runner(tmp_path, [hook], model=model)
    with pytest.raises(FreezeConfigError, match='more than max_trainable_ratio'):
        runner.train()
    # the same ratio allowed exactly: passes
    hook = FreezeBackboneHook(trainable=['bias'], max_trainable_ratio=ratio)
    make_runner(tmp_path / 'ok', [hook], max_iters=1).train()
    assert hook.report.ratio == pytest.approx(ratio)


# --------------------------------------------------------------------------- table
def test_table_numbers():
    model = TinyDetector()
    freeze_to(model.backbone, ['norm'])
    text = trainable_table(model, focus='backbone')
    rows = {}
    for line in text.splitlines():
        m = re.match(r'^(\S+)\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)%$', line)
        if m:
            rows[m.group(1)] = (int(m.group(2).replace(',', '')),
                                int(m.group(3).replace(',', '')), float(m.group(4)))
    bb_t = sum(p.numel() for n, p in model.backbone.named_parameters() if 'norm' in n)
    bb_n = sum(p.numel() for p in model.backbone.parameters())
    neck = 128 * 32 + 32
    head = 32 * 3 + 3
    assert rows['backbone'][:2] == (bb_t, bb_n)
    assert rows['neck'][:2] == (neck, neck)
    assert rows['head'][:2] == (head, head)
    assert rows['total'][:2] == (bb_t + neck + head, bb_n + neck + head)
    assert rows['backbone'][2] == pytest.approx(100 * bb_t / bb_n, abs=0.006)
    share = re.search(r'backbone trainable share: ([\d.]+)% \(([\d,]+) / ([\d,]+)\)', text)
    assert share is not None
    assert float(share.group(1)) == pytest.approx(100 * bb_t / bb_n, abs=0.006)
    assert int(share.group(2).replace(',', '')) == bb_t
    assert list(param_counts(model)) == ['backbone', 'neck', 'head']


def test_table_is_logged(tmp_path):
    runner = make_runner(tmp_path, [FreezeBackboneHook(trainable=['bias'])], max_iters=1)
    runner.train()
    log = open(runner.logger.log_file).read()
    assert 'trainable parameters:' in log
    assert 'backbone trainable share:' in log
    assert re.search(r'^total\s+[\d,]+\s+[\d,]+', log, re.M)


# --------------------------------------------------------------------------- self-frozen backbone
def tiny_mona() -> MonaSwinTransformer:
    return MonaSwinTransformer(**SWIN, mona_cfg=dict(inner_dims=8))


def test_self_frozen_backbone_is_verified_not_refrozen(tmp_path):
    model = TinyDetector(backbone=tiny_mona())
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    hook = FreezeBackboneHook(trainable=['mona'])
    snap = Snapshot()
    runner = make_runner(tmp_path, [hook, snap], model=model, max_iters=2)
    runner.train()
    assert hook.report.mode == 'verified' and hook.report.changed == []
    assert not hook.rewrapped
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    # the default optimizer constructor took every parameter; the frozen ones were removed
    n_frozen = sum(1 for p in model.parameters() if not p.requires_grad)
    assert n_frozen > 0 and hook.removed_from_optimizer == n_frozen
    assert snap.changed() == expected_changed(model, ['mona'])
    log = open(runner.logger.log_file).read()
    assert 'already trains exactly the parameters matched by' in log


def test_self_frozen_backbone_disagreeing_patterns_raise(tmp_path):
    runner = make_runner(tmp_path, [FreezeBackboneHook(trainable=['bias'])],
                         model=TinyDetector(backbone=tiny_mona()))
    with pytest.raises(FreezeMismatchError, match='already partially frozen') as info:
        runner.train()
    assert 'trainable but not matched' in str(info.value)
    assert 'matched but frozen' in str(info.value)


# --------------------------------------------------------------------------- timing guards
class ReinitUnfreezes(SwinTransformer):
    """A backbone whose init_weights() turns requires_grad back on (runs after before_run)."""

    def init_weights(self):
        super().init_weights()
        for p in self.parameters():
            p.requires_grad_(True)


def test_freeze_reasserted_after_init_weights(tmp_path):
    model = TinyDetector(backbone=ReinitUnfreezes(**SWIN))
    snap = Snapshot()
    runner = make_runner(tmp_path, [FreezeBackboneHook(trainable=['bias']), snap], model=model)
    runner.train()
    assert snap.changed() == expected_changed(model, ['bias'])
    assert 're-froze' in open(runner.logger.log_file).read()


def test_freezing_in_train_is_detected(tmp_path):
    """mmdet Swin's frozen_stages freezes in train(), after the hook: a clear error, not DDP's."""
    model = TinyDetector(backbone=SwinTransformer(**SWIN, frozen_stages=0))
    runner = make_runner(tmp_path, [FreezeBackboneHook(trainable=['bias'])], model=model)
    with pytest.raises(RuntimeError, match='changed during training.*frozen_stages=-1'):
        runner.train()


@pytest.mark.parametrize('frozen_eval', [False, True])
def test_frozen_eval(tmp_path, frozen_eval):
    snap = Snapshot()
    hook = FreezeBackboneHook(trainable=['stages.3.blocks.1'], frozen_eval=frozen_eval)
    runner = make_runner(tmp_path, [hook, snap], max_iters=2)
    runner.train()
    assert len(snap.train_modes) == 2
    for modes in snap.train_modes:
        assert modes['backbone.stages.3.blocks.1'] and modes['backbone.stages.3.blocks.1.ffn']
        assert modes['neck'] and modes['head']
        for name in ('backbone.patch_embed', 'backbone.stages.0', 'backbone.stages.3.blocks.0',
                     'backbone.stages.0.blocks.0.attn.drop', 'backbone.norm3'):
            assert modes[name] is (not frozen_eval), name
    model = model_of(runner)
    frozen = frozen_submodules(model.backbone)
    assert model.backbone.patch_embed in frozen and model.backbone.stages[3].blocks[1] not in frozen


# --------------------------------------------------------------------------- DDP
def test_ddp_rewrap_without_find_unused_parameters(tmp_path, dist_env):
    hook = FreezeBackboneHook(trainable=['bias'])
    snap = Snapshot()
    runner = make_runner(tmp_path, [hook, snap], launcher='pytorch', max_iters=3)
    old_ddp = runner.model  # kept alive on purpose: its reducer must not interfere
    assert isinstance(old_ddp, torch.nn.parallel.DistributedDataParallel)
    assert old_ddp.find_unused_parameters is False
    runner.train()
    assert hook.rewrapped and runner.model is not old_ddp
    assert isinstance(runner.model, torch.nn.parallel.DistributedDataParallel)
    assert runner.model.module is old_ddp.module
    assert runner.model.find_unused_parameters is False
    assert snap.changed() == expected_changed(model_of(runner), ['bias'])


class NaiveFreeze(Hook):
    """Freezes in before_run without re-wrapping: reproduces mmdet#8208."""

    def before_run(self, runner) -> None:
        for n, p in model_of(runner).backbone.named_parameters():
            p.requires_grad_('bias' in n)


def test_ddp_naive_freeze_fails(tmp_path, dist_env):
    """Control experiment: without the re-wrap the same run breaks in DDP."""
    runner = make_runner(tmp_path, [NaiveFreeze()], launcher='pytorch', max_iters=3)
    with pytest.raises(RuntimeError, match='finished reduction|did not receive grad'):
        runner.train()


def test_ddp_self_frozen_backbone_no_rewrap(tmp_path, dist_env):
    hook = FreezeBackboneHook(trainable=['mona'])
    runner = make_runner(tmp_path, [hook], model=TinyDetector(backbone=tiny_mona()),
                         launcher='pytorch', max_iters=3)
    ddp = runner.model
    runner.train()
    assert runner.model is ddp and not hook.rewrapped
    assert hook.report.mode == 'verified'


# --------------------------------------------------------------------------- resume
@pytest.mark.parametrize('launcher', ['none', 'pytorch'])
def test_resume_with_hook(tmp_path, launcher, request):
    if launcher == 'pytorch':
        request.getfixturevalue('dist_env')
    runner = make_runner(tmp_path, [FreezeBackboneHook(trainable=['bias'])], max_iters=2,
                         ckpt_interval=2, launcher=launcher)
    runner.train()
    ckpt_path = tmp_path / 'iter_2.pth'
    assert ckpt_path.is_file()
    if launcher == 'pytorch':
        torch.distributed.destroy_process_group()
        os.environ['MASTER_PORT'] = str(free_port())
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=True)
    n_groups = len(ckpt['optimizer']['param_groups'][0]['params'])

    hook = FreezeBackboneHook(trainable=['bias'])
    snap = Snapshot()
    runner = make_runner(tmp_path, [hook, snap], max_iters=4, ckpt_interval=2, resume=True,
                         load_from=str(ckpt_path), launcher=launcher)
    runner.train()
    assert runner.iter == 4 and (tmp_path / 'iter_4.pth').is_file()
    model = model_of(runner)
    # resume loaded the iter-2 weights and optimizer state into the filtered groups
    assert snap.before.keys() <= ckpt['state_dict'].keys()
    for n, t in snap.before.items():
        assert torch.equal(ckpt['state_dict'][n], t), n
    opt = runner.optim_wrapper.optimizer
    assert len(opt.param_groups[0]['params']) == n_groups
    steps = {int(opt.state[p]['step']) for p in opt.param_groups[0]['params']}
    assert steps == {4}
    assert snap.changed() == expected_changed(model, ['bias'])


# --------------------------------------------------------------------------- helpers
def test_optimizer_helpers_handle_optim_wrapper_dict():
    model = TinyDetector()
    wrappers = OptimWrapperDict(
        backbone=OptimWrapper(torch.optim.AdamW(model.backbone.parameters())),
        rest=OptimWrapper(torch.optim.SGD(list(model.neck.parameters()) +
                                          list(model.head.parameters()), lr=0.1)))
    freeze_to(model.backbone, ['norm'])
    assert len(frozen_in_optimizer(wrappers, model)) > 0
    n_frozen = sum(1 for p in model.parameters() if not p.requires_grad)
    assert remove_frozen_from_optimizer(wrappers) == n_frozen
    assert frozen_in_optimizer(wrappers, model) == []
    kept = {id(p) for p in wrappers['backbone'].optimizer.param_groups[0]['params']}
    assert kept == {id(p) for n, p in model.backbone.named_parameters() if 'norm' in n}


def test_apply_freeze_dotted_module_and_idempotence():
    model = TinyDetector()
    stages = resolve_module(model, 'backbone.stages')
    report = apply_freeze(stages, ['norm'], 'backbone.stages')
    assert report.mode == 'frozen'
    assert all(p.requires_grad for p in model.backbone.patch_embed.parameters())
    assert {n for n, p in stages.named_parameters() if p.requires_grad} == \
        {n for n, _ in stages.named_parameters() if 'norm' in n}
    again = apply_freeze(stages, ['norm'], 'backbone.stages')
    assert again.mode == 'verified' and again.changed == []
    assert HOOKS.get('FreezeBackboneHook') is FreezeBackboneHook
