"""Helpers for the end-to-end tests: real configs shrunk to a tiny Swin on synthetic data."""
import glob
import os
import os.path as osp
import re
import socket
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional

import torch
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(REPO, 'configs')
TINY_SWIN = dict(embed_dims=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8], window_size=7,
                 drop_path_rate=0.1)
TINY_DIMS = [32, 64, 128, 256]
TINY_VIT = dict(embed_dims=48, num_layers=4, num_heads=3)
TINY_HST = dict(arch=TINY_VIT, side_arch=dict(embed_dims=[16, 24, 32, 40], num_heads=[1, 2, 4, 5]),
                side_depths=[1, 1, 1, 1], drop_path_rate=0.1, side_drop_path_rate=0.1)
TINY_HST_DIMS = [16, 24, 32, 40]
_MMSEG_TO_TIMM = (
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln([12])\.', r'blocks.\1.norm\2.'),
    (r'^layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)$', r'blocks.\1.attn.qkv.\2'),
    (r'^layers\.(\d+)\.attn\.attn\.out_proj\.', r'blocks.\1.attn.proj.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
)


def tiny_kind(backbone_type: str) -> str:
    """``'vit'`` for ViT-based backbones (HSTViT), ``'swin'`` for the others."""
    return 'vit' if backbone_type == 'HSTViT' else 'swin'


def tiny_backbone(backbone_type: str):
    """``(overrides, out_channels)`` that shrink a config's backbone of this type for CPU runs."""
    return {'vit': (TINY_HST, TINY_HST_DIMS), 'swin': (TINY_SWIN, TINY_DIMS)}[
        tiny_kind(backbone_type)]


def write_tiny_vit_checkpoint(path: str, seed: int = 0) -> str:
    """A tiny ViT 'pretrained' file (the ViT part of ``TINY_HST``) in timm's layout."""
    from mmpeft.models.backbones import HSTViT
    from mmpeft.models.utils.vit_checkpoint import timm_to_mmseg
    torch.manual_seed(seed)
    model = HSTViT(**TINY_HST)
    model.init_weights()
    state = {k: v for k, v in model.state_dict().items()
             if not k.startswith(HSTViT.NEW_PREFIXES)}
    timm = {}
    for k, v in state.items():
        for pattern, repl in _MMSEG_TO_TIMM:
            if re.search(pattern, k):
                k = re.sub(pattern, repl, k)
                break
        timm[k] = v
    assert list(timm_to_mmseg(timm)) == list(state)
    torch.save({'model': timm}, path)
    return path


def write_tiny_checkpoint(backbone_type: str, path: str) -> str:
    """The tiny pretrained file that fits :func:`tiny_backbone` of ``backbone_type``."""
    writer = {'vit': write_tiny_vit_checkpoint, 'swin': write_tiny_swin_checkpoint}
    return writer[tiny_kind(backbone_type)](path)


def write_tiny_swin_checkpoint(path: str, seed: int = 0) -> str:
    """A tiny Swin 'pretrained' file in the official Microsoft layout (``{'model': ...}``)."""
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    from mmpeft.models.backbones import PlainSwinTransformer

    from _swin_reference import mmdet_to_microsoft
    torch.manual_seed(seed)
    swin = PlainSwinTransformer(**TINY_SWIN)
    swin.init_weights()
    state = {k: v for k, v in swin.state_dict().items() if not k.startswith('norm')}
    torch.save({'model': mmdet_to_microsoft(state)}, path)
    return path


def _replace_data_root(obj: Any, old: str, new: str) -> Any:
    if isinstance(obj, dict):
        return type(obj)({k: _replace_data_root(v, old, new) for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        return type(obj)(_replace_data_root(v, old, new) for v in obj)
    if isinstance(obj, str) and old and obj.startswith(old):
        return new + obj[len(old):]
    return obj


_SIZE_KEYS = ('scale', 'scales', 'img_scale', 'crop_size', 'size')


def _scale_sizes(obj: Any, factor: float) -> Any:
    """Multiply every image size in pipelines / data preprocessors by ``factor``."""
    def scale(v):
        if isinstance(v, int):
            return max(32, int(round(v * factor)))
        if isinstance(v, (list, tuple)):
            return type(v)(scale(x) for x in v)
        return v

    if isinstance(obj, dict):
        return type(obj)({k: scale(v) if k in _SIZE_KEYS else _scale_sizes(v, factor)
                          for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        return type(obj)(_scale_sizes(v, factor) for v in obj)
    return obj


def shrink_config(config: str, data_root: str, checkpoint: str, out_file: str,
                  schedule: Dict[str, Any], size_factor: float = 1.0,
                  extra: Optional[Dict[str, Any]] = None) -> str:
    """Load a real config, override model size, data and schedule, and dump it.

    Only these change: the backbone becomes a tiny Swin or ViT (:func:`tiny_backbone`; heads and
    necks follow its widths), every
    path under the config's ``data_root`` moves to ``data_root``, image sizes in the pipelines are
    scaled by ``size_factor`` to the ~256 px synthetic images (the paper's 800-1333 px would only
    upsample them and cost minutes per step on a 2-core CPU), the schedule is cut to a few
    iterations, the data loaders run in-process, and AMP (CUDA-only in mmengine) becomes fp32.
    """
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    old_root = cfg.get('data_root') or cfg.train_dataloader.dataset.get('data_root')
    new_root = data_root.rstrip('/') + '/'
    raw = _replace_data_root(cfg.to_dict(), old_root, new_root)
    raw = _scale_sizes(raw, size_factor) if size_factor != 1.0 else raw
    cfg = Config(raw)
    bb = cfg.model.backbone
    tiny, tiny_dims = tiny_backbone(bb.type)
    bb.update(tiny)
    bb.init_cfg = dict(type='Pretrained', checkpoint=checkpoint)
    dims = [tiny_dims[i] for i in bb.get('out_indices', (0, 1, 2, 3))]
    if 'neck' in cfg.model:
        cfg.model.neck.in_channels = dims
    if 'decode_head' in cfg.model:
        cfg.model.decode_head.in_channels = dims
        cfg.model.decode_head.channels = 32
        cfg.model.auxiliary_head.in_channels = dims[2]
        cfg.model.auxiliary_head.channels = 16
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if loader:
            loader.num_workers = 0
            loader.persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    cfg.default_hooks.logger.interval = 1
    cfg.merge_from_dict(schedule)
    if extra:
        cfg.merge_from_dict(extra)
    cfg.dump(out_file)
    return out_file


def run_tool(args: List[str], timeout: int = 900, env: Optional[dict] = None
             ) -> subprocess.CompletedProcess:
    """Run ``args`` (a tool and its arguments) from the repo root with mmpeft importable."""
    full_env = dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='2')
    full_env.update(env or {})
    out = subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=full_env,
                         timeout=timeout)
    return out


def python_tool(tool: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return run_tool([sys.executable, osp.join(REPO, 'tools', tool), *args], **kw)


def metrics_from_log(text: str) -> Dict[str, float]:
    """``name: value`` pairs that mmengine's logger prints after evaluation."""
    found = {}
    for key, val in re.findall(r'([\w/\.]*(?:mAP|mIoU|aAcc|mAcc)[\w/\.]*): (-?[0-9.]+)', text):
        found[key] = float(val)
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for torchrun's master)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ train + test through tools/
def _coco_classes():
    from mmdet.datasets import CocoDataset
    return CocoDataset.METAINFO['classes']


FAMILIES = {
    'coco': dict(
        config='mona/cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_coco.py',
        # all 80 category names, so that every label the untrained model predicts has an id
        data=dict(num_train=4, num_val=2, classes=_coco_classes()),
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


def train_then_test(family: dict, fmt: str, tmp_path, ckpt: str,
                    check_train: Optional[Callable[[str, str], None]] = None,
                    check_test: Optional[Callable[[str, str], None]] = None) -> None:
    """Train ``family['config']`` shrunk onto synthetic ``fmt`` data, then test its checkpoint.

    The training log must match ``family['expect_log']`` (default: the Mona backbone's parameter
    line); ``check_train(train_log, checkpoint_path)`` adds method-specific checks.
    """
    from mmpeft.testing import make_dataset
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
    if check_test is not None:
        check_test(cfg, saved)
