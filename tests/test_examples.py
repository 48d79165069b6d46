"""configs/examples/: every config snippet of README.md is one of these files, shown as it is, and
each file builds its model (Cascade R-CNN's three bbox heads and both segmentation heads take the
new number of classes, keeping the base's other settings)."""
import os.path as osp
import re
from glob import glob

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import mmpeft  # noqa: F401
from mmpeft.models.backbones import MonaSwinTransformer

from e2e_utils import CONFIGS, REPO

EXAMPLES = sorted(glob(osp.join(CONFIGS, 'examples', '*.py')))
README = open(osp.join(REPO, 'README.md')).read()


def example(name: str) -> str:
    return osp.join(CONFIGS, 'examples', name)


def build(path: str):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('path', EXAMPLES, ids=osp.basename)
def test_readme_shows_the_file_as_it_is(path):
    assert f'```python\n{open(path).read()}```' in README


def test_every_config_snippet_of_the_readme_is_an_example_file():
    blocks = re.findall(r'```python\n(.*?)```', README, re.S)
    snippet = re.compile(r'^(_base_ = |custom_imports = |model = dict\()', re.M)
    configs = [b for b in blocks if snippet.search(b)]
    assert len(configs) == len(EXAMPLES) >= 4
    assert sorted(configs) == sorted(open(p).read() for p in EXAMPLES)


def test_cascade_example_changes_the_classes_of_all_three_heads():
    cfg, model = build(example('cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_pets.py'))
    base = Config.fromfile(
        osp.join(CONFIGS, 'mona', 'cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_coco.py'))
    heads = model.roi_head.bbox_head
    assert len(heads) == 3
    for head, mine, theirs in zip(heads, cfg.model.roi_head.bbox_head,
                                  base.model.roi_head.bbox_head):
        assert head.num_classes == 2 and head.fc_cls.out_features == 3  # + background
        assert mine == dict(theirs, num_classes=2)  # every other setting kept, per stage
    stds = [tuple(h.bbox_coder.stds) for h in heads]
    assert len(set(stds)) == 3  # each stage's own target stds, not one head copied three times
    assert all(m.num_classes == 2 for m in model.roi_head.mask_head)
    assert isinstance(model.backbone, MonaSwinTransformer)
    assert cfg.train_dataloader.dataset.metainfo.classes == ('cat', 'dog')


def test_segmentation_example_changes_both_heads():
    cfg, model = build(example('upernet_swin-l-mona_8xb2-160k_streets-512x512.py'))
    for head in (model.decode_head, model.auxiliary_head):
        assert head.num_classes == 3 and head.conv_seg.out_channels == 3
    assert isinstance(model.backbone, MonaSwinTransformer)
    assert model.backbone.num_features[0] == 192  # Swin-L, from the Mona ADE20K config
    assert cfg.train_dataloader.dataset.type == 'BaseSegDataset'


@pytest.mark.parametrize('name', ['mask-rcnn_swin-b-mona_fpn_1x_coco.py',
                                  'faster-rcnn_swin-b-mona_fpn_1x_coco.py'])
def test_backbone_swap_examples_build(name):
    _, model = build(example(name))
    assert isinstance(model.backbone, MonaSwinTransformer)
    assert model.neck.in_channels == [128, 256, 512, 1024]
    assert [len(s.blocks) for s in model.backbone.stages] == [2, 2, 18, 2]


def test_foundation_example_builds():
    from mmpeft.models.backbones import PEFTViT
    from mmpeft.models.necks import SimpleFPN
    _, model = build(example('mask-rcnn_dinov2-b-mona_simplefpn_1x_coco.py'))
    assert isinstance(model.backbone, PEFTViT) and model.backbone.method == dict(type='Mona')
    assert isinstance(model.neck, SimpleFPN)
