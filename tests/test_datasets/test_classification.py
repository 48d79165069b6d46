"""mmpretrain's classification pieces import and register with or without torchvision, the
recipe's transforms compute what mmpretrain's do, and a PEFT Swin classifies in mmpretrain's
ImageClassifier."""
import math

import mmcv
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

import mmpeft  # noqa: F401
from mmpeft.compat import has_torchvision, import_mmpretrain
from mmpeft.datasets import CLASSIFICATION_TRANSFORMS
from mmpeft.datasets import transforms as T


def test_mmpretrain_classification_modules_resolve_in_its_scope():
    from mmpretrain.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS, VISUALIZERS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for registry, names in (
                (MODELS, ('ImageClassifier', 'GlobalAveragePooling', 'LinearClsHead',
                          'MultiLabelLinearClsHead', 'CrossEntropyLoss', 'ClsDataPreprocessor',
                          'MonaSwinTransformer', 'PlainSwinTransformer')),
                (METRICS, ('Accuracy', 'VOCMultiLabelMetric', 'VOCAveragePrecision')),
                (DATASETS, ('CustomDataset', 'Flowers102', 'OxfordIIITPet', 'VOC')),
                (TRANSFORMS, CLASSIFICATION_TRANSFORMS + ('LoadImageFromFile', 'CenterCrop',
                                                          'RandomFlip')),
                (HOOKS, ('VisualizationHook', 'FreezeBackboneHook')),
                (VISUALIZERS, ('UniversalVisualizer', ))):
            for name in names:
                assert registry.get(name) is not None, (registry.name, name)


def test_the_recipe_transforms_are_mmpretrain_s_where_torchvision_is_installed():
    from mmpretrain.registry import TRANSFORMS
    for name in CLASSIFICATION_TRANSFORMS:
        cls = TRANSFORMS.get(name)
        if has_torchvision():
            assert cls.__module__.startswith('mmpretrain.datasets.transforms'), cls
        else:
            assert cls is getattr(T, name)


def test_a_bare_package_exposes_its_imported_modules_names():
    metrics = import_mmpretrain('mmpretrain.evaluation.metrics', ['single_label'])
    from mmpretrain.evaluation.metrics import Accuracy
    from mmpretrain.evaluation.metrics.single_label import Accuracy as defined
    assert metrics.Accuracy is Accuracy is defined
    with pytest.raises(ImportError, match='no_such_package'):
        import_mmpretrain('mmpretrain.no_such_package')


def _image(h: int, w: int) -> np.ndarray:
    return np.random.RandomState(0).randint(0, 255, (h, w, 3), dtype=np.uint8)


def test_random_resized_crop_draws_as_mmpretrain():
    """The crop is the first of mmpretrain's draws (area, log-aspect, top, left from np.random,
    in that order) that fits; the output is that crop resized with mmcv."""
    img = _image(60, 80)
    np.random.seed(3)
    out = T.RandomResizedCrop(scale=(24, 32))(dict(img=img.copy()))
    np.random.seed(3)
    while True:
        area = np.random.uniform(0.08, 1.0) * 60 * 80
        ratio = math.exp(np.random.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 0 < cw <= 80 and 0 < ch <= 60:
            top, left = np.random.randint(0, 60 - ch + 1), np.random.randint(0, 80 - cw + 1)
            break
    expected = mmcv.imresize(img[top:top + ch, left:left + cw], (32, 24))
    assert out['img'].shape == (24, 32, 3) and out['img_shape'] == (24, 32, 3)
    np.testing.assert_array_equal(out['img'], expected)


def test_random_resized_crop_falls_back_to_a_clamped_central_crop():
    img = _image(40, 100)  # aspect 2.5 > 4/3: the widest allowed crop, centred
    out = T.RandomResizedCrop(scale=16, max_attempts=0)(dict(img=img.copy()))
    w = int(round(40 * 4 / 3))
    left = (100 - w) // 2
    np.testing.assert_array_equal(out['img'], mmcv.imresize(img[:, left:left + w], (16, 16)))
    with pytest.raises(ValueError, match='range should be of kind'):
        T.RandomResizedCrop(scale=16, crop_ratio_range=(1.0, 0.5))


@pytest.mark.parametrize('edge, size', [('short', (341, 256)), ('long', (256, 192)),
                                        ('width', (256, 192)), ('height', (341, 256))])
def test_resize_edge(edge, size):
    img = _image(300, 400)
    out = T.ResizeEdge(scale=256, edge=edge)(dict(img=img))
    assert out['img'].shape[:2] == size[::-1] and out['img_shape'] == size[::-1]
    assert out['scale'] == size
    np.testing.assert_allclose(out['scale_factor'], (size[0] / 400, size[1] / 300))
    np.testing.assert_array_equal(out['img'], mmcv.imresize(img, size))
    with pytest.raises(ValueError, match='edge must be one of'):
        T.ResizeEdge(scale=256, edge='diagonal')


def test_pack_inputs():
    img = _image(6, 5)
    packed = T.PackInputs()(dict(img=img, gt_label=3, img_path='a.jpg', img_shape=(6, 5),
                                 unused='dropped'))
    assert torch.equal(packed['inputs'], torch.from_numpy(img).permute(2, 0, 1))
    sample = packed['data_samples']
    assert sample.gt_label.tolist() == [3]
    assert sample.img_path == 'a.jpg' and sample.img_shape == (6, 5)
    assert 'unused' not in sample
    flipped = T.PackInputs()(dict(img=img[:, ::-1]))['inputs']  # not contiguous
    assert torch.equal(flipped, torch.from_numpy(img[:, ::-1].copy()).permute(2, 0, 1))
    multi = T.PackInputs()(dict(img=img, gt_label=[1, 4]))['data_samples']
    assert multi.gt_label.tolist() == [1, 4]
    with pytest.raises(TypeError, match='Unsupported input type'):
        T.PackInputs()(dict(img='not an image'))


TINY = dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=7,
            out_indices=(3, ), drop_path_rate=0.1)


def test_a_peft_swin_in_mmpretrain_s_image_classifier():
    """Loss, backward (only Mona and the head get gradients) and prediction."""
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='MonaSwinTransformer', **TINY),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=5, in_channels=128,
                      loss=dict(type='CrossEntropyLoss')),
            data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=5,
                                   mean=[123.675, 116.28, 103.53],
                                   std=[58.395, 57.12, 57.375], to_rgb=True)))
    from mmpretrain.structures import DataSample
    feats = model.backbone(torch.rand(2, 3, 64, 64))
    assert isinstance(feats, tuple) and [f.shape for f in feats] == [(2, 128, 2, 2)]
    raw = dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)] * 2,
               data_samples=[DataSample().set_gt_label(1), DataSample().set_gt_label(4)])
    losses = model(**model.data_preprocessor(raw, training=True), mode='loss')
    losses['loss'].backward()
    graded = {n for n, p in model.named_parameters() if p.grad is not None}
    assert graded and all('.mona' in n or n.startswith('head.') for n in graded), graded
    assert any(n.startswith('head.') for n in graded) and any('.mona' in n for n in graded)
    model.eval()
    preds = model(**model.data_preprocessor(raw), mode='predict')
    assert preds[0].pred_score.shape == (5, )
    assert torch.allclose(preds[0].pred_score.sum(), torch.tensor(1.0))
