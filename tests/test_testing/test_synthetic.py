"""Synthetic COCO / ADE20K / VOC / DOTA sets load through the upstream datasets and pipelines."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

import mmpeft  # noqa: F401  (compat patches: mmrotate imports)
from mmpeft.testing import synthetic as syn

from e2e_utils import REPO  # noqa: E402

COLOR_TOL = 40  # per channel, after JPEG + resize interpolation + per-object jitter


def _scope(name):
    return DefaultScope.overwrite_default_scope(name)


def _median_color_bgr(img_chw: torch.Tensor, mask: np.ndarray) -> np.ndarray:
    """Median BGR colour of ``img_chw`` (packed, BGR) inside an eroded ``mask``."""
    mask = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8))
    assert mask.sum() > 0
    img = img_chw.permute(1, 2, 0).numpy()
    return np.median(img[mask > 0], axis=0)


def _assert_class_color(color_bgr: np.ndarray, label: int) -> None:
    expected = np.array(syn.class_color(label)[::-1], dtype=float)
    assert np.abs(color_bgr - expected).max() <= COLOR_TOL, (color_bgr, expected, label)


def _unflip_xyxy(boxes: np.ndarray, meta: dict) -> np.ndarray:
    boxes = boxes.copy()
    if meta.get('flip', False):
        h, w = meta['img_shape']
        assert meta['flip_direction'] == 'horizontal'
        boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    return boxes


# ------------------------------------------------------------------------------------------------
# COCO
# ------------------------------------------------------------------------------------------------
COCO_TEST_CLASSES = ('red_box', 'green_disk', 'blue_triangle')


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco'))
    summary = syn.make_coco(root, num_train=6, num_val=3, img_size=(224, 192), seed=0,
                            classes=COCO_TEST_CLASSES)
    assert summary['splits']['train']['num_images'] == 6
    return root


def test_coco_files_layout(coco_root):
    with open(osp.join(coco_root, 'annotations', 'instances_val2017.json')) as f:
        val = json.load(f)
    assert [c['name'] for c in val['categories']] == list(COCO_TEST_CLASSES)
    assert [c['id'] for c in val['categories']] == [1, 2, 3]
    assert len(val['images']) == 3
    for im in val['images']:
        assert (im['width'], im['height']) == (224, 192)
        assert osp.isfile(osp.join(coco_root, 'val2017', im['file_name']))
    assert val['annotations']
    for ann in val['annotations']:
        x, y, w, h = ann['bbox']
        assert ann['iscrowd'] == 0 and ann['area'] > 0 and w >= 8 and h >= 8
        assert 0 <= x and 0 <= y and x + w <= 224 and y + h <= 192
        poly = np.array(ann['segmentation'][0]).reshape(-1, 2)
        assert poly.shape[0] >= 3
        # the polygon spans the box
        assert abs(poly[:, 0].min() - x) <= 1 and abs(poly[:, 0].max() + 1 - (x + w)) <= 1
        assert abs(poly[:, 1].min() - y) <= 1 and abs(poly[:, 1].max() + 1 - (y + h)) <= 1


def test_coco_through_mmdet_pipeline(coco_root):
    from mmdet.registry import DATASETS
    from mmdet.structures.mask import BitmapMasks
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='Resize', scale=(448, 384), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs'),
    ]
    cfg = dict(type='CocoDataset', data_root=coco_root, metainfo=dict(classes=COCO_TEST_CLASSES),
               ann_file='annotations/instances_train2017.json',
               data_prefix=dict(img='train2017/'),
               filter_cfg=dict(filter_empty_gt=True, min_size=32),
               pipeline=pipeline)
    with _scope('mmdet'):
        ds = DATASETS.build(cfg)
        assert len(ds) == 6
        assert ds.metainfo['classes'] == COCO_TEST_CLASSES
        with open(osp.join(coco_root, 'annotations', 'instances_train2017.json')) as f:
            raw = json.load(f)
        for idx in range(len(ds)):
            data = ds[idx]
            sample = data['data_samples']
            anns = [a for a in raw['annotations'] if a['image_id'] == sample.img_id]
            gt = sample.gt_instances
            assert len(gt) == len(anns) >= 1
            assert gt.labels.tolist() == [a['category_id'] - 1 for a in anns]
            assert isinstance(gt.masks, BitmapMasks) and len(gt.masks) == len(anns)
            assert data['inputs'].shape[1:] == (384, 448)  # 2x upscale of 192x224
            assert tuple(gt.masks.masks.shape[1:]) == (384, 448)
            expected = np.array([a['bbox'] for a in anns]) * 2.0
            expected[:, 2:] += expected[:, :2]
            boxes = _unflip_xyxy(gt.bboxes.numpy(), sample.metainfo)
            np.testing.assert_allclose(boxes, expected, atol=1e-3)
            for k, label in enumerate(gt.labels.tolist()):
                m = gt.masks.masks[k]
                ys, xs = np.nonzero(m)
                bx = gt.bboxes.numpy()[k]
                # the mask lies inside (and roughly fills) its box
                assert xs.min() >= bx[0] - 3 and xs.max() <= bx[2] + 3
                assert ys.min() >= bx[1] - 3 and ys.max() <= bx[3] + 3
                assert m.sum() >= 0.3 * (bx[2] - bx[0]) * (bx[3] - bx[1])
                # object colour is the class colour -> learnable
                _assert_class_color(_median_color_bgr(data['inputs'], m), label)


# ------------------------------------------------------------------------------------------------
# ADE20K
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('ade'))
    syn.make_ade20k(root, num_train=5, num_val=2, img_size=160, seed=0)
    return root


def test_ade20k_through_mmseg_pipeline(ade_root):
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackSegInputs'),
    ]
    cfg = dict(type='ADE20KDataset', data_root=ade_root, reduce_zero_label=True,
               data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
               pipeline=pipeline)
    shape_values = {v - 1 for v in syn.ADE20K_DEFAULT_LABELS}
    bg_value = syn.ADE20K_BACKGROUND_LABEL - 1
    with _scope('mmseg'):
        ds = DATASETS.build(cfg)
        assert len(ds) == 5
        val = DATASETS.build(dict(cfg, data_prefix=dict(img_path='images/validation',
                                                        seg_map_path='annotations/validation')))
        assert len(val) == 2
        seen = set()
        for idx in range(len(ds)):
            info = ds.get_data_info(idx)
            assert osp.splitext(osp.basename(info['img_path']))[0] == \
                osp.splitext(osp.basename(info['seg_map_path']))[0]
            assert osp.basename(info['img_path']).startswith('ADE_train_')
            data = ds[idx]
            seg = data['data_samples'].gt_sem_seg.data
            assert seg.shape == (1, 160, 160) and data['inputs'].shape == (3, 160, 160)
            values = set(torch.unique(seg).tolist())
            assert values <= set(range(150)) | {255}
            assert values <= shape_values | {bg_value, 255}
            assert 255 in values and bg_value in values
            assert (seg == 255).sum() > 0
            seen |= values
            for k, label in enumerate(syn.ADE20K_DEFAULT_LABELS):
                m = (seg[0] == label - 1).numpy()
                if m.sum() > 200:
                    _assert_class_color(_median_color_bgr(data['inputs'], m), k)
        assert shape_values <= seen  # every shape class appears somewhere
        raw = cv2.imread(ds.get_data_info(0)['seg_map_path'], cv2.IMREAD_UNCHANGED)
        assert raw.ndim == 2 and raw.dtype == np.uint8 and (raw == 0).any()


# ------------------------------------------------------------------------------------------------
# VOC
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('voc'))
    syn.make_voc(root, num_train=4, num_val=3, img_size=256, seed=0, num_train_2012=3)
    return osp.join(root, 'VOCdevkit')


def test_voc_layout(voc_root):
    for year, n in (('VOC2007', 4), ('VOC2012', 3)):
        ids = open(osp.join(voc_root, year, 'ImageSets/Main/trainval.txt')).read().split()
        assert len(ids) == n
        for i in ids:
            assert osp.isfile(osp.join(voc_root, year, 'JPEGImages', i + '.jpg'))
            root = ET.parse(osp.join(voc_root, year, 'Annotations', i + '.xml')).getroot()
            assert root.find('size/depth').text == '3'
            for obj in root.findall('object'):
                assert obj.find('name').text in syn.VOC_CLASSES
                assert obj.find('difficult').text == '0'
                x0, y0, x1, y1 = (int(obj.find(f'bndbox/{k}').text)
                                  for k in ('xmin', 'ymin', 'xmax', 'ymax'))
                assert 1 <= x0 < x1 <= 256 and 1 <= y0 < y1 <= 256  # 1-based, inclusive
    assert len(open(osp.join(voc_root, 'VOC2007/ImageSets/Main/test.txt')).read().split()) == 3
    assert all(i.startswith('2012_') for i in
               open(osp.join(voc_root, 'VOC2012/ImageSets/Main/trainval.txt')).read().split())


def test_voc_boxes_match_pixels(voc_root):
    """xml boxes are 1-based inclusive: minus one they are the object's pixel extent."""
    n_exact = 0
    for img_id in open(osp.join(voc_root, 'VOC2007/ImageSets/Main/trainval.txt')).read().split():
        img = cv2.imread(osp.join(voc_root, 'VOC2007/JPEGImages', img_id + '.jpg'))
        img = img[..., ::-1].astype(float)
        names, boxes = _voc_objects(voc_root, 'VOC2007', img_id)
        for name, (bx0, by0, bx1, by1) in zip(names, boxes.astype(int)):
            k = syn.VOC_DEFAULT_CLASSES.index(name)
            y0, x0 = max(by0 - 4, 0), max(bx0 - 4, 0)
            crop = img[y0:by1 + 5, x0:bx1 + 5]
            ring = np.ones(crop.shape[:2], bool)
            ring[3:-3, 3:-3] = False
            bg = np.median(crop[ring], axis=0)
            obj = np.linalg.norm(crop - np.array(syn.class_color(k)), axis=-1) < \
                np.linalg.norm(crop - bg, axis=-1)
            ys, xs = np.nonzero(obj)
            got = np.array([xs.min() + x0, ys.min() + y0, xs.max() + x0, ys.max() + y0])
            want = np.array([bx0, by0, bx1, by1])
            if syn.class_shape(k) == 'triangle':  # 1-px tips may vanish in the JPEG
                assert (got[:2] >= want[:2]).all() and (got[2:] <= want[2:]).all()
                assert np.abs(got - want).max() <= 3
            else:
                np.testing.assert_array_equal(got, want)
                n_exact += 1
    assert n_exact >= 3


def _voc_objects(voc_root, sub, img_id):
    root = ET.parse(osp.join(voc_root, sub, 'Annotations', img_id + '.xml')).getroot()
    names, boxes = [], []
    for obj in root.findall('object'):
        names.append(obj.find('name').text)
        boxes.append([int(obj.find(f'bndbox/{k}').text) - 1
                      for k in ('xmin', 'ymin', 'xmax', 'ymax')])
    return names, np.array(boxes, dtype=np.float32)


def test_voc0712_through_mmdet_pipeline(voc_root):
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(1000, 600), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs'),
    ]

    def voc(sub, ann, **kw):
        return dict(type='VOCDataset', data_root=voc_root, ann_file=ann,
                    data_prefix=dict(sub_data_root=sub), pipeline=pipeline, **kw)

    filter_cfg = dict(filter_empty_gt=True, min_size=32, bbox_min_size=32)  # as voc0712.py
    cfg = dict(type='ConcatDataset', ignore_keys=['dataset_type'], datasets=[
        voc('VOC2007/', 'VOC2007/ImageSets/Main/trainval.txt', filter_cfg=filter_cfg),
        voc('VOC2012/', 'VOC2012/ImageSets/Main/trainval.txt', filter_cfg=filter_cfg)])
    with _scope('mmdet'):
        ds = DATASETS.build(cfg)
        assert len(ds) == 7
        assert ds.datasets[0].metainfo['dataset_type'] == 'VOC2007'
        assert ds.datasets[1].metainfo['dataset_type'] == 'VOC2012'
        n_boxes = 0
        for idx in range(len(ds)):
            data = ds[idx]
            sample = data['data_samples']
            sub = 'VOC2012' if str(sample.img_id).startswith('2012_') else 'VOC2007'
            names, xml_boxes = _voc_objects(voc_root, sub, str(sample.img_id))
            gt = sample.gt_instances
            assert len(gt) == len(names) >= 1
            assert len(sample.ignored_instances) == 0  # every box >= bbox_min_size
            assert gt.labels.tolist() == [syn.VOC_CLASSES.index(n) for n in names]
            assert set(names) <= set(syn.VOC_DEFAULT_CLASSES)
            scale = np.array(sample.metainfo['scale_factor'] * 2, dtype=np.float32)
            assert data['inputs'].shape[1:] == (600, 600)
            boxes = _unflip_xyxy(gt.bboxes.numpy(), sample.metainfo)
            np.testing.assert_allclose(boxes, xml_boxes * scale, atol=1e-2)
            n_boxes += len(gt)
        assert n_boxes >= 7
        test = DATASETS.build(voc('VOC2007/', 'VOC2007/ImageSets/Main/test.txt', test_mode=True))
        assert len(test) == 3
        assert all(len(test.get_data_info(i)['instances']) >= 1 for i in range(3))


# ------------------------------------------------------------------------------------------------
# DOTA
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def dota_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('dota'))
    syn.make_dota(root, num_train=5, num_val=2, img_size=256, seed=0)
    return root


def _dota_lines(root, split, img_id):
    with open(osp.join(root, split, 'annfiles', img_id + '.txt')) as f:
        return [line.split() for line in f if line.strip()]


def test_dota_annfile_format(dota_root):
    files = sorted(os.listdir(osp.join(dota_root, 'trainval', 'annfiles')))
    assert len(files) == 5
    assert sorted(os.listdir(osp.join(dota_root, 'test', 'images'))) == \
        ['P5000__256__0___0.png', 'P5001__256__0___0.png']
    difficult = []
    for fname in files:
        img = cv2.imread(osp.join(dota_root, 'trainval', 'images', fname[:-4] + '.png'))
        assert img.shape == (256, 256, 3)
        for parts in _dota_lines(dota_root, 'trainval', fname[:-4]):
            assert len(parts) == 10
            pts = np.array([float(v) for v in parts[:8]]).reshape(4, 2)
            assert (pts >= 0).all() and (pts <= 255).all()
            assert parts[8] in syn.DOTA_DEFAULT_CLASSES
            assert parts[9] in ('0', '1')
            difficult.append(int(parts[9]))
            # a (rotated) rectangle: opposite sides parallel and of equal length
            e = np.roll(pts, -1, axis=0) - pts
            assert np.allclose(np.linalg.norm(e[0]), np.linalg.norm(e[2]), atol=1.5)
            assert np.allclose(np.linalg.norm(e[1]), np.linalg.norm(e[3]), atol=1.5)
    assert len(difficult) >= 5 and sum(difficult) < len(difficult) / 2  # mostly 0


def test_dota_through_mmrotate_pipeline(dota_root):
    assert mmpeft.compat.import_mmrotate()
    from mmrotate.registry import DATASETS
    from mmrotate.structures.bbox import RotatedBoxes
    pipeline = [
        dict(type='mmdet.LoadImageFromFile'),
        dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
        dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
        dict(type='mmdet.Resize', scale=(512, 512), keep_ratio=True),
        dict(type='mmdet.PackDetInputs'),
    ]
    cfg = dict(type='DOTADataset', data_root=dota_root, ann_file='trainval/annfiles/',
               data_prefix=dict(img_path='trainval/images/'), img_shape=(256, 256),
               filter_cfg=dict(filter_empty_gt=True), pipeline=pipeline)
    classes = syn.DOTA_CLASSES
    with _scope('mmrotate'):
        ds = DATASETS.build(cfg)
        assert len(ds) == 5
        assert ds.metainfo['classes'] == classes
        for idx in range(len(ds)):
            data = ds[idx]
            sample = data['data_samples']
            lines = _dota_lines(dota_root, 'trainval', sample.img_id)
            gt = sample.gt_instances
            assert isinstance(gt.bboxes, RotatedBoxes)
            assert len(gt) == len(lines) >= 1
            assert gt.labels.tolist() == [classes.index(p[8]) for p in lines]
            assert data['inputs'].shape == (3, 512, 512)
            rb = gt.bboxes.tensor.numpy()
            for k, parts in enumerate(lines):
                pts = np.array([float(v) for v in parts[:8]]).reshape(4, 2) * 2.0
                np.testing.assert_allclose(rb[k, :2], pts.mean(axis=0), atol=1.5)
                long_side, short_side = max(rb[k, 2:4]), min(rb[k, 2:4])
                aspect = 1.0 + 0.8 * (syn.DOTA_DEFAULT_CLASSES.index(parts[8]) % 3)
                assert abs(long_side / short_side - aspect) < 0.35 * aspect
                # the rotated box interior has the class colour
                m = np.zeros((512, 512), np.uint8)
                cv2.fillPoly(m, [np.rint(pts).astype(np.int32).reshape(-1, 1, 2)], 1)
                _assert_class_color(_median_color_bgr(data['inputs'], m),
                                    syn.DOTA_DEFAULT_CLASSES.index(parts[8]))
        # difficult flags are honoured with diff_thr=0
        hard = DATASETS.build(dict(cfg, diff_thr=0, pipeline=[]))
        n_diff = sum(int(p[9]) for f in os.listdir(osp.join(dota_root, 'trainval', 'annfiles'))
                     for p in _dota_lines(dota_root, 'trainval', f[:-4]))
        n_ignored = sum(inst['ignore_flag'] for i in range(len(hard))
                        for inst in hard.get_data_info(i)['instances'])
        assert n_ignored == n_diff


# ------------------------------------------------------------------------------------------------
# determinism, dispatcher, CLI
# ------------------------------------------------------------------------------------------------
def _digest(root, exts):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(exts):
                p = osp.join(dirpath, f)
                with open(p, 'rb') as fh:
                    out[osp.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


ANN_EXTS = {
    'coco': ('.json', ),
    'ade20k': ('.png', ),  # masks (images are .jpg)
    'voc': ('.xml', '.txt'),
    'dota': ('.txt', ),
    'star': ('.txt', ),
}


@pytest.mark.parametrize('fmt', syn.FORMATS)
def test_determinism(tmp_path, fmt):
    kw = dict(num_train=3, num_val=2, img_size=128 if fmt != 'voc' else 256)
    a = syn.make_dataset(fmt, str(tmp_path / 'a'), seed=7, **kw)
    syn.make_dataset(fmt, str(tmp_path / 'b'), seed=7, **kw)
    syn.make_dataset(fmt, str(tmp_path / 'c'), seed=8, **kw)
    da, db, dc = (_digest(str(tmp_path / n), ANN_EXTS[fmt]) for n in 'abc')
    assert a['format'] == fmt and len(da) >= 2
    assert da == db  # same seed: byte-identical annotation files
    assert da.keys() == dc.keys() and da != dc  # other seed: same files, other content
    # images too (same OpenCV build)
    img_ext = ('.png', ) if fmt in ('dota', 'star') else ('.jpg', )
    assert _digest(str(tmp_path / 'a'), img_ext) == _digest(str(tmp_path / 'b'), img_ext)


def test_make_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='unknown format'):
        syn.make_dataset('cityscapes', str(tmp_path))
    with pytest.raises(ValueError):
        syn.make_coco(str(tmp_path), classes=('a', 'a'))
    with pytest.raises(ValueError):
        syn.make_ade20k(str(tmp_path), labels=(151, ))
    with pytest.raises(ValueError):
        syn.make_voc(str(tmp_path), img_size=16)


def test_cli(tmp_path):
    out = tmp_path / 'dota_cli'
    script = osp.join(REPO, 'tools', 'misc', 'make_synthetic_data.py')
    res = subprocess.run(
        [sys.executable, script, '--format', 'dota', '--out', str(out), '--num-train', '3',
         '--num-val', '2', '--img-size', '160', '128', '--seed', '3', '--classes', 'ship,harbor'],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert 'wrote dota dataset' in res.stdout and str(out) in res.stdout
    assert 'trainval: 3 images' in res.stdout
    imgs = sorted(os.listdir(out / 'trainval' / 'images'))
    anns = sorted(os.listdir(out / 'trainval' / 'annfiles'))
    assert len(imgs) == 3 and [a[:-4] for a in anns] == [i[:-4] for i in imgs]
    assert len(os.listdir(out / 'test' / 'images')) == 2
    assert cv2.imread(str(out / 'trainval' / 'images' / imgs[0])).shape == (128, 160, 3)
    names = {line.split()[8] for a in anns for line in open(out / 'trainval' / 'annfiles' / a)}
    assert names and names <= {'ship', 'harbor'}
    # same arguments from the Python API give the same annotation bytes
    api = tmp_path / 'dota_api'
    syn.make_dota(str(api), num_train=3, num_val=2, img_size=(160, 128), seed=3,
                  classes=('ship', 'harbor'))
    assert _digest(str(api), ('.txt', )) == _digest(str(out), ('.txt', ))


def test_cli_rejects_unknown_format(tmp_path, capsys):
    import runpy
    script = osp.join(REPO, 'tools', 'misc', 'make_synthetic_data.py')
    main = runpy.run_path(script)['main']
    with pytest.raises(SystemExit) as exc:
        main(['--format', 'kitti', '--out', str(tmp_path)])
    assert exc.value.code != 0 and 'invalid choice' in capsys.readouterr().err
    assert main(['--format', 'coco', '--out', str(tmp_path), '--num-train', '2', '--num-val',
                 '1', '--img-size', '96', '--classes', 'a,b']) == 0
    with open(tmp_path / 'annotations' / 'instances_train2017.json') as f:
        assert [c['name'] for c in json.load(f)['categories']] == ['a', 'b']
    assert len(os.listdir(tmp_path / 'train2017')) == 2


def test_cli_bad_output_and_classes_get_clear_errors(tmp_path, capsys):
    """No traceback: an unwritable or file --out and non-numeric ADE20K labels name the problem."""
    import runpy
    script = osp.join(REPO, 'tools', 'misc', 'make_synthetic_data.py')
    main = runpy.run_path(script)['main']
    assert main(['--format', 'coco', '--out', '/proc/mmpeft-test/x']) == 2
    assert 'cannot write the dataset to --out /proc/mmpeft-test/x' in capsys.readouterr().err
    a_file = tmp_path / 'file.txt'
    a_file.write_text('x')
    for argv, msg in ((['--format', 'coco', '--out', str(a_file)], 'is an existing file'),
                      (['--format', 'ade20k', '--classes', 'cat,dog', '--out', str(tmp_path)],
                       'ADE20K label values 1..150'),
                      (['--format', 'ade20k', '--classes', '1,151', '--out', str(tmp_path)],
                       'ADE20K label values 1..150')):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2 and msg in capsys.readouterr().err
    assert main(['--format', 'ade20k', '--classes', '3,13', '--out', str(tmp_path / 'ade'),
                 '--num-train', '1', '--num-val', '1', '--img-size', '64']) == 0


def test_star_layout_keeps_object_sizes_in_larger_test_scenes(tmp_path):
    """make_star: STAR's layout (train/test, images + annfiles, no patch suffix), larger test
    scenes whose objects have the train objects' pixel sizes."""
    info = syn.make_star(str(tmp_path), num_train=2, num_val=2, img_size=96,
                         test_img_size=(192, 160), num_objects=(3, 3), size_range=(0.3, 0.4))
    assert info['classes'] == syn.STAR_DEFAULT_CLASSES
    for split, stems, (w, h) in (('train', ['S0000', 'S0001'], (96, 96)),
                                 ('test', ['S5000', 'S5001'], (192, 160))):
        for stem in stems:
            img = cv2.imread(osp.join(str(tmp_path), split, 'images', stem + '.png'))
            assert img.shape == (h, w, 3)
            lines = _dota_lines(str(tmp_path), split, stem)
            assert lines and all(p[8] in syn.STAR_DEFAULT_CLASSES for p in lines)
            for parts in lines:
                pts = np.array([float(v) for v in parts[:8]]).reshape(4, 2)
                long_side = np.linalg.norm(pts[1] - pts[0])
                assert 0.3 * 96 - 2 <= long_side <= 0.4 * 96 + 2, (split, long_side)
