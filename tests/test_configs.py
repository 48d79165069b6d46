"""Every config in configs/ builds its model (real size) and its datasets (synthetic data in
the task's format), and its backbone loads a checkpoint file the test writes."""
import ast
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

import mmpeft  # noqa: F401
from mmpeft.models.backbones.base import PEFTBackboneMixin
from mmpeft.models.utils import count_parameters
from mmpeft.testing import make_dataset, make_flowers102, make_pets, make_voc_cls

from e2e_utils import CONFIGS, _replace_data_root, tiny_backbone, tiny_kind, write_tiny_checkpoint

# each config is an independent test (real-size models): pytest-xdist spreads them over the workers
SPLIT_ACROSS_WORKERS = True
# (configs/examples/ holds the README's snippets: tests/test_examples.py builds them)
ALL = sorted(p for p in glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)
             if '_base_' not in p and '/examples/' not in p)


def readme_counts() -> dict:
    """``{config path relative to configs/: (backbone trainable, model trainable, model total)}``
    from the tables of configs/README.md."""
    rows = {}
    for line in open(osp.join(CONFIGS, 'README.md')):
        m = re.match(r'\| \[[^\]]+\]\(([^)]+\.py)\) \|[^|]*\| ([\d,]+)[^|]*\| ([\d,]+) / ([\d,]+)',
                     line)
        if m:
            rows[m.group(1)] = tuple(int(g.replace(',', '')) for g in m.groups()[1:])
    return rows


README_COUNTS = readme_counts()
HUGE_ARCHS = ('vit7b16', )


def task_format(cfg: Config) -> str:
    dataset = cfg.train_dataloader.dataset
    while 'dataset' in dataset or 'datasets' in dataset:
        dataset = dataset.get('dataset') or dataset['datasets'][0]
    return {'CocoDataset': 'coco', 'ADE20KDataset': 'ade20k', 'VOCDataset': 'voc',
            'DOTADataset': 'dota', 'Flowers102': 'flowers102', 'OxfordIIITPet': 'pets',
            'CustomDataset': 'voc_cls', 'VOC': 'voc_cls', 'STARDataset': 'star'}[dataset.type]


@pytest.fixture(scope='module')
def synthetic_roots(tmp_path_factory):
    base = tmp_path_factory.mktemp('data')
    roots = {}
    for fmt in ('coco', 'ade20k', 'voc', 'dota', 'star'):
        make_dataset(fmt, str(base / fmt), num_train=2, num_val=2)
        roots[fmt] = str(base / fmt / ('VOCdevkit' if fmt == 'voc' else '')).rstrip('/') + '/'
    make_flowers102(str(base / 'flowers102'))
    make_pets(str(base / 'pets'))
    make_voc_cls(str(base / 'voc_cls'), num_train=2, num_val=2)
    roots.update(flowers102=str(base / 'flowers102') + '/', pets=str(base / 'pets') + '/',
                 voc_cls=str(base / 'voc_cls' / 'VOCdevkit' / 'VOC2007') + '/')
    for backbone in ('PlainSwinTransformer', 'HSTViT', 'PEFTEVA02', 'PEFTResNet',
                     'PEFTDINOv3'):
        kind = tiny_kind(backbone)
        roots[kind] = write_tiny_checkpoint(backbone, str(base / f'{kind}_tiny.pth'))
    return roots


def test_config_folder_is_not_empty():
    names = [osp.basename(p) for p in ALL]
    assert 'cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_coco.py' in names
    assert len(ALL) >= 14


def test_every_experiment_config_is_in_the_readme_table():
    experiments = {osp.relpath(p, CONFIGS) for p in ALL
                   if '/benchmark/' not in p and '/demo/' not in p}
    assert experiments and experiments <= set(README_COUNTS), experiments - set(README_COUNTS)


def config_bases(path: str) -> list:
    """The ``_base_`` list of a config file (empty if it has none)."""
    assigns = [n for n in ast.parse(open(path).read()).body if isinstance(n, ast.Assign)
               and any(getattr(t, 'id', None) == '_base_' for t in n.targets)]
    if not assigns:
        return []
    bases = ast.literal_eval(assigns[0].value)
    return [bases] if isinstance(bases, str) else list(bases)


def test_configs_are_a_recipe_and_a_backbone():
    """Depth one: a config inherits only files of configs/_base_/, which inherit only upstream
    configs (mmdet::, mmseg::, mmrotate::, mmpretrain::) or nothing, or (a dataset variant of a
    recipe: the classification datasets, STAR's H2RBox-v2) one recipe of _base_/ that does."""
    for path in ALL + sorted(glob.glob(osp.join(CONFIGS, '_base_', '*.py'))):
        bases = config_bases(path)
        if not bases:
            continue
        if '/_base_/' in path:
            for b in bases:
                if b.startswith('./'):
                    shared = config_bases(osp.join(osp.dirname(path), b))
                    assert all('::' in s for s in shared), (path, b, shared)
                else:
                    assert '::' in b, (path, bases)
        elif '/demo/' not in path:
            assert bases and all(b.startswith('../_base_/') for b in bases), (path, bases)


@pytest.mark.parametrize('path', ALL, ids=[osp.relpath(p, CONFIGS) for p in ALL])
def test_config_builds_model_and_datasets(path, synthetic_roots):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['mmpeft']
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    from mmengine.registry import DATASETS, MODELS
    # a 6.7B-parameter backbone (DINOv3 ViT-7B: 27 GB in fp32) is counted on the meta device
    device = 'meta' if cfg.model.backbone.get('arch') in HUGE_ARCHS else 'cpu'
    with DefaultScope.overwrite_default_scope(scope):
        with torch.device(device):
            model = MODELS.build(cfg.model)
        # an mmpeft backbone, or upstream ResNet-50 in the controls that reproduce an upstream run
        upstream = type(model.backbone).__name__ == 'ResNet' and re.search(r'_r50[-_]', path)
        assert upstream or isinstance(model.backbone, PEFTBackboneMixin), type(model.backbone)
        n_backbone = sum(p.numel() for p in model.backbone.parameters())
        if '/demo/' not in path:
            assert n_backbone > 20_000_000  # the real Swin-B / Swin-L / ViT-B, not a toy
        rel = osp.relpath(path, CONFIGS)
        if rel in README_COUNTS:  # the table in configs/README.md is what the config builds
            counts = (count_parameters(model.backbone)['trainable'],
                      count_parameters(model)['trainable'], count_parameters(model)['total'])
            assert counts == README_COUNTS[rel], (rel, counts)
        del model

        fmt = task_format(cfg)
        old_root = cfg.get('data_root') or cfg.train_dataloader.dataset.get('data_root')
        raw = _replace_data_root(cfg.to_dict(), old_root, synthetic_roots[fmt])
        for split in ('train_dataloader', 'val_dataloader'):
            ds_cfg = raw[split]['dataset']
            if fmt in ('dota', 'star'):
                ds_cfg['img_shape'] = (256, 256)
            if fmt == 'star':  # the train patches (split_ss_star) have STAR's own layout
                ds_cfg['data_root'] = synthetic_roots['star']
            dataset = DATASETS.build(ds_cfg)
            assert len(dataset) > 0
            sample = dataset[0]
            # the sliding-window loops read whole scenes from the files: no pixels in the sample
            whole_scene = (split == 'val_dataloader'
                           and 'SlidingWindow' in cfg.get('val_cfg', {}).get('type', ''))
            assert ('inputs' in sample) != whole_scene and 'data_samples' in sample

        if upstream:
            return  # upstream's own ResNet and its own checkpoint loading
        # the backbone section loads a checkpoint through init_cfg (tiny copy of the backbone)
        tiny_cfg = Config(dict(cfg.model.backbone))
        tiny, tiny_dims = tiny_backbone(tiny_cfg.type)
        ckpt = synthetic_roots[tiny_kind(tiny_cfg.type)]
        tiny_cfg.update(tiny)
        tiny_cfg.pop('trainable', None)  # patterns name blocks of the real size (checked above)
        tiny_cfg.init_cfg = dict(type='Pretrained', checkpoint=ckpt)
        backbone = MODELS.build(tiny_cfg.to_dict())
        backbone.init_weights()
        source = torch.load(ckpt, weights_only=True)
        source = source.get('model', source)  # DINOv3's released files are flat
        if tiny_kind(tiny_cfg.type) == 'resnet':
            assert torch.equal(backbone.conv1.weight, source['conv1.weight'])
        else:
            embed = backbone.patch_embed
            proj = embed.projection if hasattr(embed, 'projection') else embed.proj  # DINOv3's
            assert torch.equal(proj.weight, source['patch_embed.proj.weight'])
        dims = [tiny_dims[i] for i in tiny_cfg.get('out_indices', (0, 1, 2, 3))]
        with torch.no_grad():  # (a training forward of CoLin needs its loss_orth collected)
            feats = backbone(torch.rand(1, 3, 64, 96))
        assert [f.shape[1] for f in feats] == dims
