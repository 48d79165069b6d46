"""Every loading API gives the trained model from a trainable-only checkpoint, or an error naming
the base file: mmdet's ``init_detector`` / ``DetInferencer`` (detection and rotated detection),
mmseg's ``init_model`` / ``MMSegInferencer``, mmengine's ``load_checkpoint`` and
``Runner.load_checkpoint`` (with and without mmpeft's ``CheckpointLoadHook``), and plain
``nn.Module.load_state_dict``; each compared tensor by tensor with the trained model and with the
model of ``tools/test.py`` (the runner path)."""
import os.path as osp
import shutil
from types import SimpleNamespace

import pytest
import torch
from mmdet.apis import DetInferencer
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner, load_checkpoint

import mmpeft  # noqa: F401
from mmpeft.checkpoint import BaseCheckpointMismatchError
from mmpeft.engine.hooks import TrainableCheckpointHook

from e2e_utils import FAMILIES, REPO, shrink_config, write_tiny_swin_checkpoint

pytestmark = pytest.mark.usefixtures('clean_mmengine_globals')

CONFIGS = {'det': FAMILIES['voc']['config'], 'seg': FAMILIES['ade20k']['config'],
           'rot': FAMILIES['dota']['config']}


def tiny_config(config: str, base: str, out: str) -> str:
    """The real config with a tiny Swin on ``base`` (no data is read by these tests)."""
    return shrink_config(config, osp.join(REPO, 'data', 'none'), base, out, schedule={})


def build(cfg_path: str) -> torch.nn.Module:
    cfg = Config.fromfile(cfg_path)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return MODELS.build(cfg.model)


def state(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def runner_model(cfg_path: str, ckpt: str, work_dir: str, **kw) -> torch.nn.Module:
    """What tools/test.py evaluates: the config's runner, the checkpoint loaded by it."""
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = work_dir
    cfg.merge_from_dict(kw)
    runner = Runner.from_cfg(cfg)
    runner.load_checkpoint(ckpt)
    return runner.model


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Per family: a tiny model 'trained' on a base file (random trainable weights), its small
    (TrainableCheckpointHook) and full checkpoints, config and the trained state."""
    root = tmp_path_factory.mktemp('trained')
    base = write_tiny_swin_checkpoint(str(root / 'base.pth'))
    files = {}
    for family, config in CONFIGS.items():
        cfg_path = tiny_config(config, base, str(root / f'{family}.py'))
        model = build(cfg_path)
        model.init_weights()
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:  # stands in for training
                    p.add_(torch.randn(p.shape, generator=g) * 0.05)
        full = dict(meta={}, state_dict=model.state_dict())
        torch.save(full, root / f'{family}_full.pth')
        small = dict(meta={}, state_dict=model.state_dict())
        TrainableCheckpointHook().before_save_checkpoint(SimpleNamespace(model=model), small)
        assert len(small['state_dict']) < len(full['state_dict'])
        torch.save(small, root / f'{family}_small.pth')
        files[family] = SimpleNamespace(
            cfg=cfg_path, small=str(root / f'{family}_small.pth'),
            full=str(root / f'{family}_full.pth'), state=state(model), base=base, root=root)
    return files


def assert_same(model: torch.nn.Module, expected: dict, what: str) -> None:
    got = model.state_dict()
    assert set(got) == set(expected), what
    differ = [k for k, v in expected.items() if not torch.equal(got[k], v)]
    assert not differ, f'{what}: {len(differ)} tensors differ, e.g. {differ[:3]}'


# ------------------------------------------------------------------ every API, every family
def api_models(family: str, cfg: str, ckpt: str):
    """``(name, model)`` loaded by every API that applies to ``family``."""
    if family in ('det', 'rot'):
        from mmdet.apis import init_detector
        yield 'init_detector', init_detector(cfg, ckpt, device='cpu')
        if family == 'det':
            yield 'DetInferencer', DetInferencer(model=cfg, weights=ckpt, device='cpu',
                                                 show_progress=False).model
        else:  # mmdet's DetInferencer cannot build an mmrotate test pipeline, whatever the
            # weights (test_det_inferencer_refuses_mmrotate_pipelines); its loading is the same
            yield 'DetInferencer (loading)', WeightsOnlyDetInferencer(
                model=cfg, weights=ckpt, device='cpu', show_progress=False).model
    else:
        from mmseg.apis import MMSegInferencer, init_model
        yield 'init_model', init_model(cfg, ckpt, device='cpu')
        yield 'MMSegInferencer', MMSegInferencer(model=cfg, weights=ckpt, device='cpu').model
    model = build(cfg)
    load_checkpoint(model, ckpt, map_location='cpu')
    yield 'load_checkpoint', model
    model = build(cfg)
    model.load_state_dict(torch.load(ckpt, weights_only=True)['state_dict'], strict=True)
    yield 'nn.Module.load_state_dict', model


class WeightsOnlyDetInferencer(DetInferencer):
    """mmdet's ``DetInferencer`` up to its model and weights (the pipeline is not built)."""

    def _init_pipeline(self, cfg):
        return None


def test_det_inferencer_refuses_mmrotate_pipelines(trained):
    """Why the rotated family checks DetInferencer's loading only: mmdet looks for a transform
    named exactly ``LoadImageFromFile`` (mmrotate's configs say ``mmdet.LoadImageFromFile``), an
    upstream limit that has nothing to do with the weights (a full checkpoint fails the same way);
    ``init_detector`` is the rotated inference API (mmrotate's own demos use it)."""
    with pytest.raises(ValueError, match='LoadImageFromFile'):
        DetInferencer(model=trained['rot'].cfg, weights=trained['rot'].full, device='cpu')


@pytest.mark.parametrize('family', sorted(CONFIGS))
def test_every_api_loads_the_trained_model(trained, family, tmp_path):
    t = trained[family]
    reference = runner_model(t.cfg, t.small, str(tmp_path / 'runner'))
    assert_same(reference, t.state, 'Runner.load_checkpoint (tools/test.py)')
    if family == 'det':  # the state-dict level alone, without mmpeft's runner hook
        no_hook = runner_model(t.cfg, t.small, str(tmp_path / 'no_hook'),
                               default_hooks=dict(checkpoint_load=None))
        assert_same(no_hook, t.state, 'Runner.load_checkpoint without CheckpointLoadHook')
    for name, model in api_models(family, t.cfg, t.small):
        assert_same(model, t.state, name)


def test_guard_without_the_base_the_model_differs(trained):
    """The comparison can fail: the frozen backbone of a model built from the config (not
    initialised from its base) differs from the trained one."""
    t = trained['det']
    fresh = build(t.cfg).state_dict()
    differ = [k for k, v in t.state.items() if k.startswith('backbone.')
              and not torch.equal(fresh[k], v)]
    assert len(differ) > 20


def test_full_checkpoint_loads_as_before(trained):
    """A full checkpoint needs no base: it loads even when the config's base file is another."""
    from mmdet.apis import init_detector
    t = trained['det']
    other = write_tiny_swin_checkpoint(str(t.root / 'other_full.pth'), seed=5)
    cfg = tiny_config(CONFIGS['det'], other, str(t.root / 'det_other_full.py'))
    assert_same(init_detector(cfg, t.full, device='cpu'), t.state, 'full checkpoint')


# ------------------------------------------------------------------ the base file
def moved_after_training(t, tmp_path):
    """The small file of ``t`` as if its base had been moved after training: its record names a
    path that no longer exists; the same file (same sha256) is now at the returned path."""
    ckpt = torch.load(t.small, weights_only=True)
    gone = str(tmp_path / 'gone' / 'base.pth')
    ckpt['state_dict']._metadata['backbone']['mmpeft_base']['path'] = gone
    for rec in ckpt['meta']['mmpeft_base']['bases']:
        rec['path'] = gone
    small = str(tmp_path / 'small_moved.pth')
    torch.save(ckpt, small)
    return small, gone, shutil.copy(t.base, tmp_path / 'moved_base.pth')


def test_moved_base_with_the_same_sha256_works(trained, tmp_path):
    from mmdet.apis import init_detector
    t = trained['det']
    small, gone, moved = moved_after_training(t, tmp_path)
    cfg = tiny_config(CONFIGS['det'], str(moved), str(tmp_path / 'moved.py'))
    model = build(cfg)
    load_checkpoint(model, small)
    assert_same(model, t.state, 'load_checkpoint, config on the moved base')
    assert_same(runner_model(cfg, small, str(tmp_path / 'r')), t.state, 'runner, moved base')
    assert_same(DetInferencer(model=cfg, weights=small, device='cpu',
                              show_progress=False).model, t.state, 'DetInferencer, moved base')
    # init_detector drops the backbone's init_cfg unless given cfg_options: the recorded path is
    # all it has, and it is gone
    with pytest.raises(BaseCheckpointMismatchError, match='does not exist') as err:
        init_detector(cfg, small, device='cpu')
    assert gone in str(err.value) and 'cfg_options' in str(err.value)
    model = init_detector(cfg, small, device='cpu', cfg_options={
        'model.backbone.init_cfg': dict(type='Pretrained', checkpoint=str(moved))})
    assert_same(model, t.state, 'init_detector, moved base given by cfg_options')


def test_another_base_is_refused_naming_both_files(trained, tmp_path):
    from mmdet.apis import init_detector
    t = trained['det']
    other = write_tiny_swin_checkpoint(str(tmp_path / 'other.pth'), seed=5)
    cfg = tiny_config(CONFIGS['det'], other, str(tmp_path / 'other.py'))
    for load in (lambda: load_checkpoint(build(cfg), t.small),
                 lambda: runner_model(cfg, t.small, str(tmp_path / 'r')),
                 lambda: init_detector(cfg, t.small, device='cpu', cfg_options={
                     'model.backbone.init_cfg': dict(type='Pretrained', checkpoint=other)})):
        with pytest.raises(BaseCheckpointMismatchError, match='sha256') as err:
            load()
        assert t.base in str(err.value) and other in str(err.value)
