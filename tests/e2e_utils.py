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
# PEFTViT / PEFTSAMViT shrunk to the ViT of TINY_HST (whose checkpoint file loads into both): one
# stride-16 map of 48 channels after layer 3
_TINY_VIT_ARCH = dict(embed_dims=48, num_layers=4, num_heads=3, feedforward_channels=192)
TINY_PEFT_VIT = dict(arch=_TINY_VIT_ARCH, patch_size=16, img_size=224, layer_scale_init_value=0.,
                     num_register_tokens=0, interpolate_offset=0., interpolate_antialias=False,
                     pre_norm=False, final_norm=False, out_indices=(3, ), drop_path_rate=0.1)
TINY_PEFT_SAM = dict(arch=dict(_TINY_VIT_ARCH, global_attn_indexes=[1, 3]), patch_size=16,
                     img_size=224, window_size=7, use_rel_pos=False, out_channels=0,
                     out_indices=(3, ), drop_path_rate=0.1)
TINY_VIT_DIMS = [48] * 4
# a DINOv2-style tiny ViT (patch 14, layer scale, 4 registers, antialiased position interpolation
# from a 4x4 table), written in DINOv2's hub layout by write_tiny_dinov2_checkpoint
TINY_DINOV2 = dict(TINY_PEFT_VIT, patch_size=14, img_size=56, layer_scale_init_value=1e-5,
                   num_register_tokens=4, interpolate_antialias=True, final_norm=True)
_MMSEG_TO_TIMM = (
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln([12])\.', r'blocks.\1.norm\2.'),
    (r'^layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)$', r'blocks.\1.attn.qkv.\2'),
    (r'^layers\.(\d+)\.attn\.attn\.out_proj\.', r'blocks.\1.attn.proj.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
)
_MMPRETRAIN_TO_DINOV2 = (
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln([12])\.', r'blocks.\1.norm\2.'),
    (r'^layers\.(\d+)\.attn\.gamma1\.weight$', r'blocks.\1.ls1.gamma'),
    (r'^layers\.(\d+)\.ffn\.gamma2\.weight$', r'blocks.\1.ls2.gamma'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^ln1\.', 'norm.'),
)


# a ResNet-50 (16 Bottlenecks) of widths 8-64: maps of 32-256 channels at strides 4-32
TINY_RESNET = dict(depth=50, base_channels=8, stem_channels=8)
TINY_RESNET_DIMS = [32, 64, 128, 256]


def tiny_kind(backbone_type: str) -> str:
    """Which tiny pretrained file a backbone type loads: ``'vit'`` for HSTViT, PEFTViT and
    PEFTSAMViT (the same tiny ViT file), ``'eva02'`` for PEFTEVA02 (EVA-02's own layout),
    ``'resnet'`` for PEFTResNet, ``'swin'`` for the others."""
    if backbone_type == 'PEFTEVA02':
        return 'eva02'
    if backbone_type == 'PEFTResNet':
        return 'resnet'
    if backbone_type == 'PEFTDINOv3':
        return 'dinov3'
    return 'vit' if backbone_type in ('HSTViT', 'PEFTViT', 'PEFTSAMViT') else 'swin'


def tiny_backbone(backbone_type: str):
    """``(overrides, out_channels)`` that shrink a config's backbone of this type for CPU runs."""
    own = {'PEFTViT': (TINY_PEFT_VIT, TINY_VIT_DIMS), 'PEFTSAMViT': (TINY_PEFT_SAM, TINY_VIT_DIMS),
           'PEFTEVA02': (TINY_PEFT_EVA02, TINY_VIT_DIMS),
           'PEFTResNet': (TINY_RESNET, TINY_RESNET_DIMS),
           'PEFTDINOv3': (TINY_PEFT_DINOV3, TINY_VIT_DIMS)}
    if backbone_type in own:
        return own[backbone_type]
    return {'vit': (TINY_HST, TINY_HST_DIMS), 'swin': (TINY_SWIN, TINY_DIMS)}[
        tiny_kind(backbone_type)]


def write_tiny_vit_checkpoint(path: str, seed: int = 0) -> str:
    """A tiny ViT 'pretrained' file (the ViT part of ``TINY_HST``) in timm's layout."""
    from mmpeft.checkpoint.layouts.vit import rename_keys, timm_to_mmseg
    from mmpeft.models.backbones import HSTViT
    torch.manual_seed(seed)
    model = HSTViT(**TINY_HST)
    model.init_weights()
    state = {k: v for k, v in model.state_dict().items()
             if not k.startswith(HSTViT.NEW_PREFIXES)}
    timm = rename_keys(state, _MMSEG_TO_TIMM)
    assert list(timm_to_mmseg(timm)) == list(state)
    torch.save({'model': timm}, path)
    return path


def write_tiny_dinov2_checkpoint(path: str, seed: int = 0) -> str:
    """A ``TINY_DINOV2`` 'pretrained' file in DINOv2's hub layout (flat, ``blocks.N.ls1.gamma``,
    ``register_tokens``, ``mask_token``, ``norm``)."""
    from mmpeft.checkpoint.layouts.vit import rename_keys
    from mmpeft.models.backbones import PEFTViT
    torch.manual_seed(seed)
    model = PEFTViT(**TINY_DINOV2)
    model.init_weights()
    state = rename_keys(model.state_dict(), _MMPRETRAIN_TO_DINOV2)
    state['mask_token'] = torch.zeros(1, model.embed_dims)
    torch.save(state, path)
    return path


def random_weights(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``model`` with every parameter random (zero-initialised LoRA factors and small layer
    scales would hide errors in a comparison), in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model.eval()


def write_tiny_checkpoint(backbone_type: str, path: str) -> str:
    """The tiny pretrained file that fits :func:`tiny_backbone` of ``backbone_type``."""
    writer = {'vit': write_tiny_vit_checkpoint, 'swin': write_tiny_swin_checkpoint,
              'eva02': write_tiny_eva02_checkpoint, 'resnet': write_tiny_resnet_checkpoint,
              'dinov3': write_tiny_dinov3_checkpoint}
    return writer[tiny_kind(backbone_type)](path)


def write_tiny_resnet_checkpoint(path: str, seed: int = 0) -> str:
    """A ``TINY_RESNET`` 'pretrained' file as torchvision's (a flat state dict with its ``fc``
    classifier), wrapped as the official Conv-Adapter code saves (``{'model': ..., 'args':
    argparse.Namespace}``)."""
    import argparse

    from mmdet.models.backbones import ResNet
    torch.manual_seed(seed)
    model = ResNet(**TINY_RESNET)
    model.init_weights()
    state = dict(model.state_dict(), **{'fc.weight': torch.zeros(10, 256),
                                        'fc.bias': torch.zeros(10)})
    torch.save({'model': state, 'epoch': 1, 'args': argparse.Namespace(model='resnet50')}, path)
    return path


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


_HEAD_WIDTHS = {'in_channels': (256, 64), 'out_channels': (256, 64), 'feat_channels': (256, 64),
                'conv_out_channels': (256, 64), 'fc_out_channels': (1024, 128)}


def _thin_heads(obj: Any) -> Any:
    """The neck's output and the heads at a quarter of mmdet's widths (256 -> 64 channels, 1024 ->
    128 FC units), everywhere below ``obj`` (a model config without its backbone and the neck's
    inputs): consistent, since every one of these widths follows the neck's 256."""
    if isinstance(obj, dict):
        out = type(obj)()
        for k, v in obj.items():
            old_new = _HEAD_WIDTHS.get(k)
            if old_new and v == old_new[0]:
                v = old_new[1]
            elif old_new and isinstance(v, (list, tuple)) and v and all(x == old_new[0] for x in v):
                v = type(v)(old_new[1] for _ in v)
            else:
                v = _thin_heads(v)
            out[k] = v
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_thin_heads(v) for v in obj)
    return obj


def shrink_config(config: str, data_root: str, checkpoint: str, out_file: str,
                  schedule: Dict[str, Any], size_factor: float = 1.0,
                  extra: Optional[Dict[str, Any]] = None) -> str:
    """Load a real config, override model size, data and schedule, and dump it.

    Only these change: the backbone becomes a tiny Swin or ViT (:func:`tiny_backbone`; the neck
    takes its widths, and the neck's output and the heads are thinned by :func:`_thin_heads`), every
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
    if cfg.model.type == 'ImageClassifier':  # mmpretrain: pooling neck, head on the last map
        cfg.model.head.in_channels = dims[-1]
    elif 'neck' in cfg.model:
        model = _thin_heads({k: v for k, v in cfg.model.to_dict().items() if k != 'backbone'})
        model['neck']['in_channels'] = dims
        cfg.model.update(model)
    if 'decode_head' in cfg.model:
        if 'neck' not in cfg.model:  # after a neck, the heads take the neck's widths
            cfg.model.decode_head.in_channels = dims
            cfg.model.auxiliary_head.in_channels = dims[2]
        cfg.model.decode_head.channels = 32
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
    full_env = dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED='1',
                    OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
    full_env.update(env or {})
    out = subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=full_env,
                         timeout=timeout)
    return out


def python_tool(tool: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return run_tool([sys.executable, osp.join(REPO, 'tools', tool), *args], **kw)


def metrics_from_log(text: str) -> Dict[str, float]:
    """``name: value`` pairs that mmengine's logger prints after evaluation."""
    found = {}
    for key, val in re.findall(r'([\w/\.-]*(?:mAP|mIoU|aAcc|mAcc|top\d)[\w/\.]*): (-?[0-9.]+)',
                               text):
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


def dist_train_voc(config: str, tmp_path, ckpt: str) -> subprocess.CompletedProcess:
    """``tools/dist_train.sh CONFIG 2`` (torchrun, gloo on CPU) on ``config`` (a VOC config under
    configs/) shrunk onto synthetic VOC data, one epoch; the work dir is ``tmp_path/work``."""
    from mmpeft.testing import make_dataset
    family = FAMILIES['voc']
    root = str(tmp_path / 'data')
    make_dataset('voc', root, **family['data'])
    cfg = shrink_config(config, osp.join(root, 'VOCdevkit'), ckpt, str(tmp_path / 'cfg.py'),
                        {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 10},
                        family['size_factor'])
    return run_tool(['bash', osp.join(REPO, 'tools', 'dist_train.sh'), cfg, '2', '--work-dir',
                     str(tmp_path / 'work')], env=dict(PYTHON=sys.executable,
                                                       PORT=str(free_port())))


# ------------------------------------------------------------------ EVA-02 (PEFTEVA02)
# a tiny EVA-02 (SwiGLU with sub-LN as B/L, patch 14, a 4x4 position table, LN eps 1e-6): one
# 48-channel map after layer 3, loaded from a file in EVA-02's own layout
TINY_PEFT_EVA02 = dict(arch=dict(_TINY_VIT_ARCH, feedforward_channels=128), patch_size=14,
                       img_size=56, sub_ln=True, norm_cfg=dict(type='LN', eps=1e-6),
                       final_norm=False, out_indices=(3, ), drop_path_rate=0.1)


def eva02_official_state(model: torch.nn.Module, packed: bool = False) -> Dict[str, torch.Tensor]:
    """A ``PEFTEVA02``'s ViT weights in EVA-02's own (``asuka``) layout, as its pretraining files
    hold them: B/L's separate ``attn.q_proj/k_proj/v_proj`` and ``mlp.w1/w2`` (``packed=False``)
    or Ti/S's packed ``attn.qkv`` and ``mlp.w12`` (``packed=True``); ``attn.q_bias`` /
    ``attn.v_bias`` (no k bias), ``mlp.ffn_ln``, ``norm``, and the unused ``mask_token``,
    ``lm_head`` and rotary buffers. Method modules are left out."""
    c = model.embed_dims
    out: Dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        m = re.match(r'layers\.(\d+)\.(.+)$', key)
        if m is None:
            key = re.sub(r'^patch_embed\.projection\.', 'patch_embed.proj.', key)
            out[re.sub(r'^ln1\.', 'norm.', key)] = value
            continue
        pre, rest = f'blocks.{m.group(1)}.', m.group(2)
        if model.is_method_param(key):
            continue
        if rest == 'attn.qkv.weight' and not packed:
            for s, part in zip('qkv', value.chunk(3)):
                out[f'{pre}attn.{s}_proj.weight'] = part
        elif rest == 'attn.qkv.bias':
            out[f'{pre}attn.q_bias'], _, out[f'{pre}attn.v_bias'] = value.chunk(3)
        elif rest.startswith('mlp.w12.') and not packed:
            kind = rest.rsplit('.', 1)[1]
            out[f'{pre}mlp.w1.{kind}'], out[f'{pre}mlp.w2.{kind}'] = value.chunk(2)
        else:
            out[pre + rest.replace('mlp.norm.', 'mlp.ffn_ln.')] = value
    g = torch.Generator().manual_seed(1)
    out.setdefault('norm.weight', torch.rand(c, generator=g))
    out.setdefault('norm.bias', torch.rand(c, generator=g))
    head_dims = c // model.num_heads
    grid = model.patch_resolution[0] * model.patch_resolution[1]
    out.update({'mask_token': torch.zeros(1, 1, c), 'lm_head.weight': torch.randn(8, c),
                'lm_head.bias': torch.zeros(8), 'rope.freqs_cos': torch.ones(grid, head_dims),
                'rope.freqs_sin': torch.zeros(grid, head_dims)})
    for i in range(model.num_layers):
        out[f'blocks.{i}.attn.rope.freqs_cos'] = out['rope.freqs_cos']
        out[f'blocks.{i}.attn.rope.freqs_sin'] = out['rope.freqs_sin']
    return out


def write_tiny_eva02_checkpoint(path: str, seed: int = 0) -> str:
    """A ``TINY_PEFT_EVA02`` 'pretrained' file in EVA-02's B/L layout (``{'model': ...}``; the k
    rows of the packed q/k/v bias are zeros, as EVA-02's k has no bias)."""
    from mmpeft.models.backbones import PEFTEVA02
    torch.manual_seed(seed)
    model = PEFTEVA02(**TINY_PEFT_EVA02)
    model.init_weights()
    torch.save({'model': eva02_official_state(model)}, path)
    return path



# ------------------------------------------------------------------ DINOv3 (PEFTDINOv3)
# a tiny DINOv3 (patch 16, 4 storage tokens, rotary positions, MLP FFN): one 48-channel map after
# block 3 through the final norm, loaded from a file in DINOv3's released layout
TINY_DINOV3_ARCH = dict(embed_dims=48, num_layers=4, num_heads=3, ffn_ratio=4)
TINY_PEFT_DINOV3 = dict(arch=TINY_DINOV3_ARCH, out_indices=(3, ), drop_path_rate=0.1)


def dinov3_official_state(arch: dict, seed: int = 0, scale: float = 0.2,
                          local_cls_norm: bool = False) -> Dict[str, torch.Tensor]:
    """A random state dict in the layout of DINOv3's released ``.pth`` files, shapes from the
    official formulas: ``cls_token`` (1, 1, C), ``storage_tokens`` (1, 4, C), ``mask_token``
    (1, C), ``patch_embed.proj``, ``rope_embed.periods`` (D/4; here bfloat16-rounded
    ``100 ** (4 m / D)`` scaled by random factors in [1, 1.2), so that recomputed periods give
    other features), per block ``norm1``, ``attn.qkv.{weight, bias, bias_mask}`` (the mask 1 on
    q and v, 0 on k; no bias with ``qkv_bias=False``), ``attn.proj``, ``ls1.gamma``, ``norm2``,
    ``mlp.fc1/fc2`` (MLP) or ``mlp.w1/w2/w3`` (SwiGLU), ``ls2.gamma``, ``norm``, and with
    ``local_cls_norm`` the 7B's training-only norm. Layer scales are O(1) (random), not 1e-5,
    so that every block matters in a comparison."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=g) * scale

    c, heads = arch['embed_dims'], arch['num_heads']
    hidden = int(c * arch['ffn_ratio'])
    swiglu = arch.get('ffn_type', 'mlp') == 'swiglu'
    if swiglu:
        d, align = int(hidden * 2 / 3), arch.get('swiglu_align', 8)
        hidden = (d + align - 1) // align * align
    head_dims = c // heads
    periods = (100.**(torch.arange(head_dims // 4) * 4 / head_dims)).bfloat16().float()
    state = {'cls_token': rand(1, 1, c), 'storage_tokens': rand(1, 4, c),
             'mask_token': torch.zeros(1, c), 'patch_embed.proj.weight': rand(c, 3, 16, 16),
             'patch_embed.proj.bias': rand(c),
             'rope_embed.periods': periods * (1 + 0.2 * torch.rand(head_dims // 4, generator=g)),
             'norm.weight': 1 + rand(c), 'norm.bias': rand(c)}
    if local_cls_norm:
        state.update({'local_cls_norm.weight': 1 + rand(c), 'local_cls_norm.bias': rand(c)})
    for i in range(arch['num_layers']):
        p = f'blocks.{i}.'
        state.update({p + 'norm1.weight': 1 + rand(c), p + 'norm1.bias': rand(c),
                      p + 'attn.qkv.weight': rand(3 * c, c), p + 'attn.proj.weight': rand(c, c),
                      p + 'attn.proj.bias': rand(c), p + 'ls1.gamma': 1 + rand(c),
                      p + 'norm2.weight': 1 + rand(c), p + 'norm2.bias': rand(c),
                      p + 'ls2.gamma': 1 + rand(c)})
        if arch.get('qkv_bias', True):
            state[p + 'attn.qkv.bias'] = rand(3 * c)
            state[p + 'attn.qkv.bias_mask'] = torch.cat(
                [torch.ones(c), torch.zeros(c), torch.ones(c)])
        names = (('w1', hidden, c), ('w2', hidden, c), ('w3', c, hidden)) if swiglu else (
            ('fc1', hidden, c), ('fc2', c, hidden))
        for name, out_f, in_f in names:
            state[f'{p}mlp.{name}.weight'] = rand(out_f, in_f)
            state[f'{p}mlp.{name}.bias'] = rand(out_f)
    return state


def write_tiny_dinov3_checkpoint(path: str, seed: int = 0) -> str:
    """A ``TINY_PEFT_DINOV3`` 'pretrained' file in DINOv3's released layout (flat)."""
    torch.save(dinov3_official_state(TINY_DINOV3_ARCH, seed), path)
    return path
