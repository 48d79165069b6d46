"""Trainable-only checkpoints: save, restore (test / load_from / resume), base-file checks, size."""
import copy
import re
import shutil
import time
import uuid

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.runner import Runner

import mmpeft  # noqa: F401
from mmpeft.engine.checkpoint import (
    ALLOW_ENV,
    META_KEY,
    BaseCheckpointMismatchError,
    file_sha256,
    state_dict_bytes,
    trainable_state_dict,
)
from mmpeft.engine.hooks import CheckpointLoadHook, FreezeBackboneHook, TrainableCheckpointHook
from mmpeft.models.backbones import MonaSwinTransformer

from e2e_utils import (
    TINY_DIMS,
    TINY_HST,
    TINY_HST_DIMS,
    TINY_SWIN,
    write_tiny_swin_checkpoint,
    write_tiny_vit_checkpoint,
)

pytestmark = pytest.mark.usefixtures('clean_mmengine_globals')


# per method: tiny backbone config, its out channels, FreezeBackboneHook patterns, base writer
METHODS = {
    'mona': (dict(type='MonaSwinTransformer', **dict(TINY_SWIN, drop_path_rate=0.0),
                  out_indices=(0, 1, 2, 3), mona_cfg=dict(dropout=0.0)), TINY_DIMS, ['mona'],
             write_tiny_swin_checkpoint),
    'hst': (dict(type='HSTViT', **dict(TINY_HST, drop_path_rate=0.0, side_drop_path_rate=0.0)),
            TINY_HST_DIMS, ['meta_tokens', 'side_stages.', 'bridges.', '.ln1.', '.ln2.'],
            write_tiny_vit_checkpoint),
}


def detector_cfg(base: str, method: str = 'mona') -> dict:
    import os.path as osp

    import mmdet
    cfg = Config.fromfile(osp.join(osp.dirname(mmdet.__file__),
                                   '.mim/configs/_base_/models/mask-rcnn_r50_fpn.py')).model
    backbone, dims = METHODS[method][:2]
    cfg.backbone = dict(backbone, init_cfg=dict(type='Pretrained', checkpoint=base))
    cfg.neck.in_channels = dims
    cfg.neck.out_channels = 32
    cfg.rpn_head.in_channels = cfg.rpn_head.feat_channels = 32
    rh = cfg.roi_head
    rh.bbox_roi_extractor.out_channels = rh.mask_roi_extractor.out_channels = 32
    rh.bbox_head.update(in_channels=32, fc_out_channels=64, num_classes=3)
    rh.mask_head.update(in_channels=32, conv_out_channels=32, num_classes=3)
    return cfg


def make_runner(work_dir, model, hooks, checkpoint_load='default', **kw) -> Runner:
    default_hooks = dict(checkpoint=None)
    if checkpoint_load != 'default':
        default_hooks['checkpoint_load'] = checkpoint_load
    return Runner(model=model, work_dir=str(work_dir), default_scope='mmdet', custom_hooks=hooks,
                  default_hooks=default_hooks, env_cfg=dict(dist_cfg=dict(backend='gloo')),
                  experiment_name=f'tc_{time.time()}_{uuid.uuid4().hex[:8]}', **kw)


def predict(model):
    torch.manual_seed(0)
    img = (torch.rand(3, 96, 128) * 255).to(torch.uint8)
    sample = DetDataSample(metainfo=dict(img_shape=(96, 128), ori_shape=(96, 128),
                                         scale_factor=(1.0, 1.0)))
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[img], data_samples=[sample]), False)
        feats = model.extract_feat(data['inputs'])
        out = model.predict(data['inputs'], data['data_samples'])[0].pred_instances
    return feats, out


def trained_detector_files(tmp_path, method: str = 'mona'):
    """A 'trained' tiny Mona (or HST) Mask R-CNN: base weights from a file, random trainable
    weights."""
    patterns, writer = METHODS[method][2:]
    base = writer(str(tmp_path / 'base.pth'))
    runner = make_runner(tmp_path / 'w0', detector_cfg(base, method),
                         [FreezeBackboneHook(trainable=patterns), TrainableCheckpointHook()])
    model = runner.model
    model.init_weights()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad:  # stands in for training: every trainable tensor changes
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    full = {'meta': {}, 'state_dict': {k: v.clone() for k, v in model.state_dict().items()}}
    torch.save(full, tmp_path / 'full.pth')
    # what Runner.save_checkpoint does (the resume test below goes through the real one)
    small = {'meta': {'iter': 0}, 'state_dict': copy.deepcopy(full['state_dict'])}
    runner.call_hook('before_save_checkpoint', checkpoint=small)
    torch.save(small, tmp_path / 'small.pth')
    return base, model, tmp_path / 'full.pth', tmp_path / 'small.pth'


@pytest.mark.parametrize('method', sorted(METHODS))
def test_small_checkpoint_gives_identical_predictions(tmp_path, method):
    base, trained, full_path, small_path = trained_detector_files(tmp_path, method)
    patterns = METHODS[method][2]
    small = torch.load(small_path, map_location='cpu', weights_only=True)
    full = torch.load(full_path, map_location='cpu', weights_only=True)
    rec = small['meta'][META_KEY]
    assert rec['bases'] == [dict(module='backbone', path=base, sha256=file_sha256(base))]
    trainable = {n for n, p in trained.named_parameters() if p.requires_grad}
    params = dict(trained.named_parameters())
    buffers = {n for n in trained.state_dict() if n not in params}  # persistent buffers
    # frozen, but not in the base file: the Swin output norms (kept at identity, never pretrained)
    not_in_base = {n for n in params if re.match(r'backbone\.norm\d\.', n)}
    assert bool(not_in_base) == (method == 'mona')
    assert set(small['state_dict']) == trainable | buffers | not_in_base
    assert all(any(p in k[len('backbone.'):] for p in patterns) for k in small['state_dict']
               if k.startswith('backbone.') and k not in buffers | not_in_base)
    assert len(small['state_dict']) < len(full['state_dict'])

    ref_feats, ref_pred = predict(trained)
    assert len(ref_pred.bboxes) > 0
    results = []
    for path in (full_path, small_path):
        # like tools/test.py: a fresh model, no init_weights; no hook in the config restores the
        # small file: CheckpointLoadHook, a default hook of every runner, does
        runner = make_runner(tmp_path / f'w_{path.stem}', detector_cfg(base, method), [])
        assert not runner.model.is_init
        runner.load_checkpoint(str(path))
        results.append(predict(runner.model))
    for feats, pred in results:
        for a, b in zip(feats, ref_feats):
            assert torch.equal(a, b)
        for key in ('bboxes', 'scores', 'labels', 'masks'):
            assert torch.equal(getattr(pred, key), getattr(ref_pred, key)), key


def test_small_checkpoint_keeps_the_frozen_weights_the_base_file_lacked(tmp_path):
    """A base file without one block (accepted with allow_missing): that block's frozen weights are
    random, so the small file must carry them; the restored model equals the trained one bit for
    bit, although the model is initialised differently at test time."""
    ckpt = torch.load(write_tiny_swin_checkpoint(str(tmp_path / 'full.pth')), weights_only=True)
    partial = {k: v for k, v in ckpt['model'].items() if not k.startswith('layers.1.blocks.0.')}
    assert len(partial) < len(ckpt['model'])
    base = str(tmp_path / 'partial.pth')
    torch.save({'model': partial}, base)

    def cfg():
        c = detector_cfg(base)
        c.backbone.init_cfg['allow_missing'] = True
        return c

    torch.manual_seed(0)
    runner = make_runner(tmp_path / 'w0', cfg(), [TrainableCheckpointHook()])
    trained = runner.model
    trained.init_weights()
    with torch.no_grad():
        for p in trained.parameters():
            if p.requires_grad:
                p.add_(0.05)
    small = {'meta': {}, 'state_dict': copy.deepcopy(trained.state_dict())}
    runner.call_hook('before_save_checkpoint', checkpoint=small)
    block = {n for n, p in trained.named_parameters()
             if n.startswith('backbone.stages.1.blocks.0.') and not p.requires_grad}
    assert block and block <= set(small['state_dict'])
    assert 'backbone.stages.0.blocks.0.attn.w_msa.qkv.weight' not in small['state_dict']
    torch.save(small, tmp_path / 'small.pth')

    torch.manual_seed(123)  # another random initialisation of the block the base lacks
    runner = make_runner(tmp_path / 'w1', cfg(), [])
    runner.load_checkpoint(str(tmp_path / 'small.pth'))
    restored = runner.model.state_dict()
    for k, v in trained.state_dict().items():
        assert torch.equal(restored[k], v), k
    # the guard: initialised from the base alone, that block differs from the trained model
    torch.manual_seed(123)
    fresh = make_runner(tmp_path / 'w2', cfg(), []).model
    fresh.init_weights()
    name = sorted(block)[0]
    assert not torch.equal(fresh.state_dict()[name], trained.state_dict()[name])


def test_small_checkpoint_is_restored_without_the_runner_hook(tmp_path):
    """Without CheckpointLoadHook the backbone still completes the small file as it loads (the
    base record travels in the state dict's metadata). Guard: the same tensors without that
    record leave the frozen backbone of an un-initialised model random."""
    base, trained, _, small_path = trained_detector_files(tmp_path)
    runner = make_runner(tmp_path / 'w1', detector_cfg(base), [], checkpoint_load=None)
    assert not any(isinstance(h, CheckpointLoadHook) for h in runner.hooks)
    runner.load_checkpoint(str(small_path))
    assert torch.equal(predict(runner.model)[0][0], predict(trained)[0][0])
    bare = dict(torch.load(small_path, weights_only=True)['state_dict'])  # no _metadata
    model = make_runner(tmp_path / 'w2', detector_cfg(base), [], checkpoint_load=None).model
    model.load_state_dict(bare, strict=False)
    assert not torch.equal(predict(model)[0][0], predict(trained)[0][0])


def test_restore_does_not_depend_on_the_config_hooks(tmp_path):
    """load_from of a small file in a config without any mmpeft hook (the README's own config):
    the base is still checked and the file restored."""
    base, trained, _, small_path = trained_detector_files(tmp_path)
    runner = make_runner(tmp_path / 'w', detector_cfg(base), [])
    assert sum(isinstance(h, CheckpointLoadHook) for h in runner.hooks) == 1
    runner.load_checkpoint(str(small_path))
    assert torch.equal(predict(runner.model)[0][0], predict(trained)[0][0])
    other = write_tiny_swin_checkpoint(str(tmp_path / 'other.pth'), seed=5)
    runner = make_runner(tmp_path / 'w_other', detector_cfg(other), [])
    with pytest.raises(BaseCheckpointMismatchError, match='sha256'):
        runner.load_checkpoint(str(small_path))


def test_other_base_is_refused_unless_allowed(tmp_path, monkeypatch):
    base, _, _, small_path = trained_detector_files(tmp_path)
    other = write_tiny_swin_checkpoint(str(tmp_path / 'other.pth'), seed=5)
    runner = make_runner(tmp_path / 'w2', detector_cfg(other), [])
    with pytest.raises(BaseCheckpointMismatchError, match='sha256') as err:
        runner.load_checkpoint(str(small_path))
    assert base in str(err.value) and other in str(err.value) and ALLOW_ENV in str(err.value)
    # no Pretrained base in the config (as after mmdet's init_detector): the recorded file, if it
    # is still there with its sha256, else an error naming it
    cfg = detector_cfg(base)
    cfg['backbone']['init_cfg'] = None
    runner = make_runner(tmp_path / 'w3', cfg, [])
    runner.load_checkpoint(str(small_path))
    gone = shutil.move(base, tmp_path / 'gone.pth')
    runner = make_runner(tmp_path / 'w3b', cfg, [])
    with pytest.raises(BaseCheckpointMismatchError, match='no Pretrained') as err:
        runner.load_checkpoint(str(small_path))
    assert base in str(err.value) and 'does not exist' in str(err.value)
    shutil.move(gone, base)
    # override by env var or option
    monkeypatch.setenv(ALLOW_ENV, '1')
    runner = make_runner(tmp_path / 'w4', detector_cfg(other), [])
    runner.load_checkpoint(str(small_path))
    monkeypatch.delenv(ALLOW_ENV)
    runner = make_runner(tmp_path / 'w5', detector_cfg(other), [],
                         checkpoint_load=dict(type='CheckpointLoadHook', allow_base_mismatch=True))
    runner.load_checkpoint(str(small_path))
    # the same file under another path is fine (sha256 decides)
    moved = shutil.copy(base, tmp_path / 'moved.pth')
    runner = make_runner(tmp_path / 'w6', detector_cfg(str(moved)), [])
    runner.load_checkpoint(str(small_path))


# --------------------------------------------------------------------------- resume
def test_resume_from_small_checkpoint(tmp_path):
    from tiny_runner import Snapshot, TinyData, TinyDetector
    base = write_tiny_swin_checkpoint(str(tmp_path / 'base.pth'), seed=0)

    def model():
        bb = MonaSwinTransformer(**dict(TINY_SWIN, drop_path_rate=0.0), out_indices=(3, ),
                                 mona_cfg=dict(dropout=0.0),
                                 init_cfg=dict(type='Pretrained', checkpoint=base))
        m = TinyDetector(backbone=bb)
        m.neck = torch.nn.Linear(256, 32)
        return m

    def runner(max_iters, hooks, **kw):
        return Runner(
            model=model(), work_dir=str(tmp_path), default_scope='mmdet',
            train_dataloader=dict(dataset=TinyData(), batch_size=2, num_workers=0,
                                  sampler=dict(type='InfiniteSampler', shuffle=False),
                                  collate_fn=dict(type='pseudo_collate')),
            train_cfg=dict(by_epoch=False, max_iters=max_iters),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                               interval=2, save_last=False)),
            custom_hooks=hooks, log_processor=dict(by_epoch=False),
            experiment_name=f'tc_{time.time()}_{uuid.uuid4().hex[:8]}', **kw)

    r1 = runner(2, [FreezeBackboneHook(trainable=['mona']), TrainableCheckpointHook()])
    r1.train()
    ckpt = torch.load(tmp_path / 'iter_2.pth', map_location='cpu', weights_only=True)
    assert META_KEY in ckpt['meta'] and 'optimizer' in ckpt
    assert not any(k.startswith('backbone.') and '.mona' not in k and 'relative_position_index'
                   not in k and not re.match(r'backbone\.norm\d\.', k)  # output norms: not in
                   for k in ckpt['state_dict'])                           # the base file
    trained = {k: v.clone() for k, v in r1.model.state_dict().items()}

    snap = Snapshot()
    r2 = runner(4, [FreezeBackboneHook(trainable=['mona']), TrainableCheckpointHook(), snap],
                resume=True, load_from=str(tmp_path / 'iter_2.pth'))
    r2.train()
    assert r2.iter == 4 and (tmp_path / 'iter_4.pth').is_file()
    for n, t in snap.before.items():  # resumed state == the state at iter 2 (base + trained)
        assert torch.equal(trained[n], t), n
    steps = {int(s['step']) for s in r2.optim_wrapper.optimizer.state.values()}
    assert steps == {4}
    changed = snap.changed()
    assert changed and all('.mona' in n or not n.startswith('backbone.') for n in changed)


# --------------------------------------------------------------------------- size
def test_mona_swin_b_small_file_under_5_percent():
    torch.manual_seed(0)
    swin_b = MonaSwinTransformer(embed_dims=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32],
                                 window_size=7, out_indices=(0, 1, 2, 3))
    full = swin_b.state_dict()
    small = trainable_state_dict(swin_b)
    full_bytes, small_bytes = state_dict_bytes(full), state_dict_bytes(small)
    assert full_bytes > 300e6  # a real-size Swin-B (~88M parameters + 4.4M adapter parameters)
    trainable = {n for n, p in swin_b.named_parameters() if p.requires_grad}
    assert trainable and trainable <= set(small)
    ratio = small_bytes / full_bytes
    print(f'Mona-Swin-B trainable-only {small_bytes / 2**20:.1f} MiB of '
          f'{full_bytes / 2**20:.1f} MiB ({ratio:.2%})')
    assert ratio < 0.05


def test_frozen_modules_that_cannot_complete_themselves_stay_in_the_file(tmp_path):
    """Only modules that complete themselves from their base when loaded (the mmpeft backbones)
    lose their frozen weights: a frozen upstream module with a Pretrained base keeps them, so no
    loading API can leave it at its initial values."""
    from mmengine.model import BaseModule

    from mmpeft.engine.checkpoint import completes_from_base, shrink_checkpoint
    base = write_tiny_swin_checkpoint(str(tmp_path / 'base.pth'))
    head_file = str(tmp_path / 'head.pth')
    torch.save({'weight': torch.randn(4, 8), 'bias': torch.zeros(4)}, head_file)

    class Head(BaseModule):
        def __init__(self):
            super().__init__(init_cfg=dict(type='Pretrained', checkpoint=head_file))
            self.fc = torch.nn.Linear(8, 4).requires_grad_(False)

    model = torch.nn.Module()
    model.backbone = MonaSwinTransformer(**TINY_SWIN,
                                         init_cfg=dict(type='Pretrained', checkpoint=base))
    model.head = Head()
    assert completes_from_base(model.backbone) and not completes_from_base(model.head)
    ckpt = dict(meta={}, state_dict=model.state_dict())
    record = shrink_checkpoint(model, ckpt)
    assert [b['module'] for b in record['bases']] == ['backbone']
    assert {'head.fc.weight', 'head.fc.bias'} <= set(ckpt['state_dict'])
    assert 'backbone.stages.0.blocks.0.attn.w_msa.qkv.weight' not in ckpt['state_dict']
    assert ckpt['state_dict']._metadata['backbone'][META_KEY]['sha256'] == file_sha256(base)
