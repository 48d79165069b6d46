"""Small deterministic synthetic datasets in the on-disk layouts of COCO, ADE20K, VOC, DOTA, STAR.

Every image has a noisy grey background and a few filled shapes. The look of an object is tied to
its class: class ``k`` (its index in the ``classes`` argument) is always drawn in the colour
``PALETTE[k % len(PALETTE)]`` (RGB, with a small per-object jitter) and, for COCO / VOC / ADE20K,
with the shape ``SHAPES[k % len(SHAPES)]``; DOTA objects are rotated rectangles whose aspect ratio
depends on the class. Objects do not overlap (their axis-aligned boxes keep a small gap), so a
detector or segmentor can learn the task from a handful of images.

Generation only uses ``numpy.random.RandomState`` seeded from ``seed`` and the split, so the same
arguments give byte-identical annotation files (and images, with the same OpenCV build).

Layouts written (``DIR`` = ``out_dir``)::

    coco:   DIR/annotations/instances_{train,val}2017.json, DIR/{train,val}2017/*.jpg
    ade20k: DIR/images/{training,validation}/ADE_{train,val}_XXXXXXXX.jpg
            DIR/annotations/{training,validation}/ADE_{train,val}_XXXXXXXX.png
    voc:    DIR/VOCdevkit/VOC2007/{Annotations/*.xml, JPEGImages/*.jpg,
                                   ImageSets/Main/{trainval,train,val,test}.txt}
            DIR/VOCdevkit/VOC2012/{Annotations, JPEGImages, ImageSets/Main/{trainval,train,val}.txt}
    dota:   DIR/{trainval,test}/images/*.png, DIR/{trainval,test}/annfiles/*.txt
    star:   DIR/{train,test}/images/*.png, DIR/{train,test}/annfiles/*.txt  (DOTA format)

Point a config's ``data_root`` at ``DIR`` (``DIR/VOCdevkit/`` for VOC).
"""
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union
from xml.sax.saxutils import escape

import cv2
import numpy as np

__all__ = [
    'COCO_CLASSES', 'VOC_CLASSES', 'VOC_DEFAULT_CLASSES', 'DOTA_CLASSES', 'DOTA_DEFAULT_CLASSES',
    'ADE20K_LABELS', 'ADE20K_DEFAULT_LABELS', 'ADE20K_BACKGROUND_LABEL', 'ADE20K_IGNORE_LABEL',
    'STAR_DEFAULT_CLASSES', 'PALETTE', 'SHAPES', 'FORMATS', 'class_color', 'class_shape',
    'make_coco', 'make_ade20k', 'make_voc', 'make_dota', 'make_star', 'make_dataset'
]

#: Default COCO categories (real COCO names, so an unmodified COCO config also reads them).
COCO_CLASSES: Tuple[str, ...] = ('person', 'bicycle', 'car', 'motorcycle')

#: The 20 PASCAL VOC class names, in mmdet's ``VOCDataset`` order.
VOC_CLASSES: Tuple[str, ...] = (
    'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
    'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
    'tvmonitor')
#: Classes drawn by default in the VOC set (few classes -> learnable from a few images).
VOC_DEFAULT_CLASSES: Tuple[str, ...] = VOC_CLASSES[:4]

#: The 15 DOTA v1.0 class names, in mmrotate's ``DOTADataset`` order.
DOTA_CLASSES: Tuple[str, ...] = (
    'plane', 'baseball-diamond', 'bridge', 'ground-track-field', 'small-vehicle', 'large-vehicle',
    'ship', 'tennis-court', 'basketball-court', 'storage-tank', 'soccer-ball-field', 'roundabout',
    'harbor', 'swimming-pool', 'helicopter')
#: Classes drawn by default in the DOTA set.
DOTA_DEFAULT_CLASSES: Tuple[str, ...] = ('plane', 'small-vehicle', 'ship', 'storage-tank')
#: Classes drawn by default in the STAR set (names of STAR's 48 classes).
STAR_DEFAULT_CLASSES: Tuple[str, ...] = ('airplane', 'ship', 'car', 'tank')

#: ADE20K label values (1-based, as stored in the png masks) used here, with their names.
ADE20K_LABELS: Dict[int, str] = {1: 'wall', 13: 'person', 20: 'chair', 21: 'car'}
#: Label painted under the whole image before the shapes are drawn.
ADE20K_BACKGROUND_LABEL: int = 1
#: Labels of the shapes drawn by default (class k of this tuple -> colour/shape k).
ADE20K_DEFAULT_LABELS: Tuple[int, ...] = (13, 21, 20)
#: Value of unlabelled pixels (mmseg's ``reduce_zero_label=True`` turns it into 255).
ADE20K_IGNORE_LABEL: int = 0

#: Class colours (RGB); class k uses ``PALETTE[k % len(PALETTE)]``.
PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (230, 25, 25), (25, 160, 40), (30, 60, 230), (240, 200, 20), (200, 30, 200), (20, 200, 210),
    (250, 130, 20), (120, 30, 180), (150, 230, 40), (250, 120, 180), (0, 110, 110), (160, 100, 40),
    (120, 0, 0), (0, 0, 120), (128, 128, 0), (255, 255, 255), (0, 0, 0), (255, 200, 150),
    (170, 255, 195), (60, 60, 60))

#: Shapes; class k uses ``SHAPES[k % len(SHAPES)]`` (COCO, VOC, ADE20K).
SHAPES: Tuple[str, ...] = ('rectangle', 'ellipse', 'triangle')

FORMATS: Tuple[str, ...] = ('coco', 'ade20k', 'voc', 'dota', 'star')

ImgSize = Union[int, Sequence[int]]

_SPLIT_CODES = {'train': 1, 'val': 2, 'trainval': 3, 'test': 4}
_FORMAT_CODES = {'coco': 11, 'ade20k': 12, 'voc2007': 13, 'voc2012': 14, 'dota': 15, 'star': 16}
_COLOR_JITTER = 12
_NOISE_STD = 8.0


def class_color(label: int) -> Tuple[int, int, int]:
    """RGB colour of the class with 0-based index ``label``."""
    return PALETTE[label % len(PALETTE)]


def class_shape(label: int) -> str:
    """Shape name of the class with 0-based index ``label`` (COCO, VOC and ADE20K)."""
    return SHAPES[label % len(SHAPES)]


# --------------------------------------------------------------------------------------------
# drawing helpers
# --------------------------------------------------------------------------------------------
def _wh(img_size: ImgSize) -> Tuple[int, int]:
    if isinstance(img_size, (int, np.integer)):
        w = h = int(img_size)
    else:
        w, h = (int(v) for v in img_size)
    if w < 32 or h < 32:
        raise ValueError(f'img_size must be at least 32x32, got {w}x{h}')
    return w, h


def _rng(seed: int, fmt: str, split: str) -> np.random.RandomState:
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f'seed must be in [0, 2**32), got {seed}')
    return np.random.RandomState([int(seed), _FORMAT_CODES[fmt], _SPLIT_CODES[split]])


def _background(rng: np.random.RandomState, w: int, h: int) -> np.ndarray:
    """Noisy grey background with a mild gradient, RGB uint8 (h, w, 3)."""
    base = rng.randint(95, 160)
    tint = rng.randint(-10, 11, size=3)
    gx = rng.uniform(-15, 15) * np.linspace(-1, 1, w)[None, :, None]
    gy = rng.uniform(-15, 15) * np.linspace(-1, 1, h)[:, None, None]
    noise = rng.normal(0.0, _NOISE_STD, size=(h, w, 3))
    img = base + tint[None, None, :] + gx + gy + noise
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _jittered_color(rng: np.random.RandomState, label: int) -> Tuple[int, int, int]:
    c = np.array(class_color(label)) + rng.randint(-_COLOR_JITTER, _COLOR_JITTER + 1, size=3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _shape_polygon(shape: str, x: int, y: int, w: int, h: int,
                   rng: np.random.RandomState) -> np.ndarray:
    """Integer polygon (N, 2) of ``shape`` inscribed in the box with top-left (x, y), size w x h."""
    x1, y1 = x + w - 1, y + h - 1
    if shape == 'rectangle':
        pts = [(x, y), (x1, y), (x1, y1), (x, y1)]
    elif shape == 'ellipse':
        cx, cy = x + (w - 1) / 2.0, y + (h - 1) / 2.0
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        pts = np.stack([cx + (w - 1) / 2.0 * np.cos(t), cy + (h - 1) / 2.0 * np.sin(t)], axis=1)
        return np.rint(pts).astype(np.int32)
    elif shape == 'triangle':
        apex_x = x + (w - 1) // 2
        if rng.rand() < 0.5:  # pointing up
            pts = [(apex_x, y), (x1, y1), (x, y1)]
        else:  # pointing down
            pts = [(x, y), (x1, y), (apex_x, y1)]
    else:
        raise ValueError(f'unknown shape {shape!r}')
    return np.asarray(pts, dtype=np.int32)


def _rotated_rect(cx: float, cy: float, w: float, h: float, angle: float) -> np.ndarray:
    """Integer corners (4, 2) of a w x h rectangle centred at (cx, cy) rotated by ``angle`` rad."""
    c, s = np.cos(angle), np.sin(angle)
    half = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2.0
    rot = np.array([[c, -s], [s, c]])
    pts = half @ rot.T + np.array([cx, cy])
    return np.rint(pts).astype(np.int32)


def _overlaps(box: Tuple[int, int, int, int], boxes: List[Tuple[int, int, int, int]],
              gap: int) -> bool:
    x0, y0, x1, y1 = box
    for a0, b0, a1, b1 in boxes:
        if x0 <= a1 + gap and a0 <= x1 + gap and y0 <= b1 + gap and b0 <= y1 + gap:
            return True
    return False


def _layout(rng: np.random.RandomState, w: int, h: int, num_classes: int,
            num_objects: Tuple[int, int], size_range: Tuple[float, float],
            make_poly: Callable[[np.random.RandomState, int, int, int, int], Optional[np.ndarray]],
            max_tries: int = 60) -> List[Tuple[int, np.ndarray]]:
    """Sample non-overlapping objects; returns ``[(label, polygon), ...]``.

    ``make_poly(rng, label, w, h, side)`` returns a polygon inside the image or None to retry.
    """
    lo, hi = num_objects
    n = int(rng.randint(lo, hi + 1))
    side_min = max(8, int(round(size_range[0] * min(w, h))))
    side_max = max(side_min, int(round(size_range[1] * min(w, h))))
    objects: List[Tuple[int, np.ndarray]] = []
    boxes: List[Tuple[int, int, int, int]] = []
    for _ in range(n):
        label = int(rng.randint(num_classes))
        for _ in range(max_tries):
            side = int(rng.randint(side_min, side_max + 1))
            poly = make_poly(rng, label, w, h, side)
            if poly is None:
                continue
            box = (int(poly[:, 0].min()), int(poly[:, 1].min()), int(poly[:, 0].max()),
                   int(poly[:, 1].max()))
            if box[0] < 0 or box[1] < 0 or box[2] >= w or box[3] >= h:
                continue
            if _overlaps(box, boxes, gap=2):
                continue
            objects.append((label, poly))
            boxes.append(box)
            break
    return objects


def _axis_aligned_poly_factory(
        shapes: Callable[[int], str]
) -> Callable[[np.random.RandomState, int, int, int, int], Optional[np.ndarray]]:

    def make(rng: np.random.RandomState, label: int, w: int, h: int,
             side: int) -> Optional[np.ndarray]:
        aspect = rng.uniform(0.7, 1.4)
        bw = max(8, int(round(side * np.sqrt(aspect))))
        bh = max(8, int(round(side / np.sqrt(aspect))))
        if bw >= w - 2 or bh >= h - 2:
            return None
        x = int(rng.randint(1, w - bw))
        y = int(rng.randint(1, h - bh))
        return _shape_polygon(shapes(label), x, y, bw, bh, rng)

    return make


def _render(img: np.ndarray, objects: List[Tuple[int, np.ndarray]],
            rng: np.random.RandomState) -> List[np.ndarray]:
    """Fill each polygon on ``img`` (in place) in its class colour; returns per-object masks."""
    masks = []
    for label, poly in objects:
        color = _jittered_color(rng, label)
        cv2.fillPoly(img, [poly.reshape(-1, 1, 2)], color, lineType=cv2.LINE_8)
        mask = np.zeros(img.shape[:2], dtype=np.uint8)
        cv2.fillPoly(mask, [poly.reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8)
        masks.append(mask)
    return masks


def _write_image(path: str, rgb: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    ext = osp.splitext(path)[1].lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in ('.jpg', '.jpeg') else \
        [cv2.IMWRITE_PNG_COMPRESSION, 3]
    if rgb.ndim == 3:
        rgb = np.ascontiguousarray(rgb[..., ::-1])  # cv2 writes BGR
    if not cv2.imwrite(path, rgb, params):
        raise OSError(f'could not write {path}')


def _write_text(path: str, text: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)


def _check_counts(num_train: int, num_val: int) -> None:
    if num_train < 1 or num_val < 0:
        raise ValueError(f'need num_train >= 1 and num_val >= 0, got {num_train}, {num_val}')


def _check_classes(classes: Sequence[Any], name: str) -> Tuple[Any, ...]:
    classes = tuple(classes)
    if not classes:
        raise ValueError(f'{name} must not be empty')
    if len(set(classes)) != len(classes):
        raise ValueError(f'{name} has duplicates: {classes}')
    return classes


def _summary(fmt: str, root: str, classes: Sequence[Any], splits: Dict[str, Dict[str, Any]],
             img_size: Tuple[int, int], seed: int) -> Dict[str, Any]:
    return dict(format=fmt, root=osp.abspath(root), classes=tuple(classes), img_size=img_size,
                seed=seed, splits=splits)


# --------------------------------------------------------------------------------------------
# COCO
# --------------------------------------------------------------------------------------------
def make_coco(out_dir: str,
              num_train: int = 8,
              num_val: int = 4,
              img_size: ImgSize = 256,
              seed: int = 0,
              classes: Sequence[str] = COCO_CLASSES,
              num_objects: Tuple[int, int] = (2, 4),
              size_range: Tuple[float, float] = (0.15, 0.35)) -> Dict[str, Any]:
    """Write a COCO-instances style dataset (boxes + polygon masks) to ``out_dir``.

    Layout: ``annotations/instances_{train,val}2017.json`` and images ``{train,val}2017/*.jpg``.
    Category ids are ``1..len(classes)`` in the order of ``classes``; load it with mmdet's
    ``CocoDataset(metainfo=dict(classes=classes), ...)``.

    Args:
        out_dir: Output root (created if needed).
        num_train, num_val: Number of images per split.
        img_size: ``W`` (square) or ``(W, H)``.
        seed: Random seed; the same arguments give byte-identical files.
        classes: Category names; class k is drawn as ``class_shape(k)`` in ``class_color(k)``.
        num_objects: Inclusive range of objects sampled per image (fewer if they do not fit).
        size_range: Object size range as fractions of the shorter image side.

    Returns:
        A summary dict (``format``, ``root``, ``classes``, ``splits`` with files and counts).
    """
    _check_counts(num_train, num_val)
    classes = _check_classes(classes, 'classes')
    w, h = _wh(img_size)
    make_poly = _axis_aligned_poly_factory(class_shape)
    categories = [dict(id=i + 1, name=str(name), supercategory='shape')
                  for i, name in enumerate(classes)]
    splits: Dict[str, Dict[str, Any]] = {}
    for split, num, first_id in (('train', num_train, 1), ('val', num_val, 100001)):
        rng = _rng(seed, 'coco', split)
        img_dir = osp.join(out_dir, f'{split}2017')
        os.makedirs(img_dir, exist_ok=True)
        images, annotations = [], []
        ann_id = first_id
        for i in range(num):
            img_id = first_id + i
            file_name = f'{img_id:012d}.jpg'
            img = _background(rng, w, h)
            objects = _layout(rng, w, h, len(classes), num_objects, size_range, make_poly)
            masks = _render(img, objects, rng)
            _write_image(osp.join(img_dir, file_name), img)
            images.append(dict(id=img_id, file_name=file_name, width=w, height=h))
            for (label, poly), mask in zip(objects, masks):
                ys, xs = np.nonzero(mask)
                x0, y0 = int(xs.min()), int(ys.min())
                bbox = [float(x0), float(y0), float(xs.max() + 1 - x0), float(ys.max() + 1 - y0)]
                annotations.append(
                    dict(id=ann_id, image_id=img_id, category_id=label + 1,
                         segmentation=[[float(v) for v in poly.reshape(-1)]],
                         area=float(mask.sum()), bbox=bbox, iscrowd=0))
                ann_id += 1
        coco = dict(
            info=dict(description=f'mmpeft synthetic COCO-style {split} set', version='1.0',
                      year=2017, contributor='mmpeft', date_created='2017-01-01'),
            licenses=[dict(id=1, name='synthetic', url='')],
            images=images, annotations=annotations, categories=categories)
        ann_file = osp.join(out_dir, 'annotations', f'instances_{split}2017.json')
        _write_text(ann_file, json.dumps(coco, indent=None, separators=(',', ':')) + '\n')
        splits[split] = dict(ann_file=ann_file, img_dir=img_dir, num_images=num,
                             num_objects=len(annotations))
    return _summary('coco', out_dir, classes, splits, (w, h), seed)


# --------------------------------------------------------------------------------------------
# ADE20K
# --------------------------------------------------------------------------------------------
def make_ade20k(out_dir: str,
                num_train: int = 8,
                num_val: int = 4,
                img_size: ImgSize = 256,
                seed: int = 0,
                labels: Sequence[int] = ADE20K_DEFAULT_LABELS,
                background_label: int = ADE20K_BACKGROUND_LABEL,
                ignore_border: int = 3,
                num_objects: Tuple[int, int] = (2, 4),
                size_range: Tuple[float, float] = (0.15, 0.35)) -> Dict[str, Any]:
    """Write an ADE20K (ADEChallengeData2016) style semantic segmentation set to ``out_dir``.

    Layout: ``images/{training,validation}/ADE_{train,val}_%08d.jpg`` and single-channel uint8
    masks ``annotations/{training,validation}/ADE_{train,val}_%08d.png``. Mask values are ADE
    labels: ``background_label`` under the whole image, ``labels[k]`` inside shapes of class k,
    and 0 (unlabelled, -> 255 with mmseg's ``reduce_zero_label=True``) on an ``ignore_border``
    pixels wide frame, drawn dark in the image.

    Args:
        out_dir: Output root (created if needed).
        num_train, num_val: Number of images per split.
        img_size: ``W`` (square) or ``(W, H)``.
        seed: Random seed; the same arguments give byte-identical files.
        labels: ADE label values (1..150) of the shape classes.
        background_label: ADE label value (1..150) of the background.
        ignore_border: Width of the 0-valued frame (0 disables it).
        num_objects: Inclusive range of shapes sampled per image.
        size_range: Shape size range as fractions of the shorter image side.

    Returns:
        A summary dict (``format``, ``root``, ``classes`` = shape labels, ``splits``).
    """
    _check_counts(num_train, num_val)
    labels = _check_classes([int(v) for v in labels], 'labels')
    for v in labels + (int(background_label), ):
        if not 1 <= v <= 150:
            raise ValueError(f'ADE20K labels must be in 1..150, got {v}')
    if background_label in labels:
        raise ValueError('background_label must differ from the shape labels')
    w, h = _wh(img_size)
    make_poly = _axis_aligned_poly_factory(class_shape)
    splits: Dict[str, Dict[str, Any]] = {}
    for split, num, sub, prefix in (('train', num_train, 'training', 'ADE_train'),
                                    ('val', num_val, 'validation', 'ADE_val')):
        rng = _rng(seed, 'ade20k', split)
        img_dir = osp.join(out_dir, 'images', sub)
        ann_dir = osp.join(out_dir, 'annotations', sub)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        n_obj = 0
        for i in range(num):
            stem = f'{prefix}_{i + 1:08d}'
            img = _background(rng, w, h)
            seg = np.full((h, w), int(background_label), dtype=np.uint8)
            objects = _layout(rng, w, h, len(labels), num_objects, size_range, make_poly)
            masks = _render(img, objects, rng)
            for (label, _), mask in zip(objects, masks):
                seg[mask > 0] = labels[label]
            if ignore_border > 0:
                b = int(ignore_border)
                for sl in ((slice(0, b), slice(None)), (slice(h - b, h), slice(None)),
                           (slice(None), slice(0, b)), (slice(None), slice(w - b, w))):
                    seg[sl] = ADE20K_IGNORE_LABEL
                    img[sl] = 20
            n_obj += len(objects)
            _write_image(osp.join(img_dir, stem + '.jpg'), img)
            _write_image(osp.join(ann_dir, stem + '.png'), seg)
        splits[split] = dict(img_dir=img_dir, ann_dir=ann_dir, num_images=num,
                             num_objects=n_obj)
    return _summary('ade20k', out_dir, labels, splits, (w, h), seed)


# --------------------------------------------------------------------------------------------
# VOC
# --------------------------------------------------------------------------------------------
def _voc_xml(folder: str, stem: str, w: int, h: int,
             objects: List[Tuple[str, int, Tuple[int, int, int, int]]]) -> str:
    lines = [
        '<annotation>', f'\t<folder>{folder}</folder>', f'\t<filename>{stem}.jpg</filename>',
        '\t<source>', '\t\t<database>mmpeft synthetic</database>', '\t</source>', '\t<size>',
        f'\t\t<width>{w}</width>', f'\t\t<height>{h}</height>', '\t\t<depth>3</depth>',
        '\t</size>', '\t<segmented>0</segmented>'
    ]
    for name, difficult, (x0, y0, x1, y1) in objects:
        lines += [
            '\t<object>', f'\t\t<name>{escape(name)}</name>', '\t\t<pose>Unspecified</pose>',
            '\t\t<truncated>0</truncated>', f'\t\t<difficult>{difficult}</difficult>',
            '\t\t<bndbox>', f'\t\t\t<xmin>{x0}</xmin>', f'\t\t\t<ymin>{y0}</ymin>',
            f'\t\t\t<xmax>{x1}</xmax>', f'\t\t\t<ymax>{y1}</ymax>', '\t\t</bndbox>', '\t</object>'
        ]
    lines.append('</annotation>')
    return '\n'.join(lines) + '\n'


def make_voc(out_dir: str,
             num_train: int = 8,
             num_val: int = 4,
             img_size: ImgSize = 256,
             seed: int = 0,
             classes: Sequence[str] = VOC_DEFAULT_CLASSES,
             num_train_2012: Optional[int] = None,
             num_objects: Tuple[int, int] = (2, 4),
             size_range: Tuple[float, float] = (0.18, 0.38)) -> Dict[str, Any]:
    """Write a PASCAL VOC style detection set (VOC2007 + VOC2012) under ``out_dir/VOCdevkit``.

    ``VOC2007`` gets ``num_train`` trainval images (ids ``000001``...) and ``num_val`` test images
    (listed in ``ImageSets/Main/test.txt``); ``VOC2012`` gets ``num_train_2012`` (default
    ``num_train``) trainval images (ids ``2012_000001``...). ``train.txt``/``val.txt`` split each
    trainval list in half. Boxes are 1-based inclusive pixel coordinates like real VOC, all
    objects have ``<difficult>0</difficult>``. Use ``data_root=out_dir/VOCdevkit/``.

    Args:
        out_dir: Output root (created if needed).
        num_train, num_val: VOC2007 trainval / test image counts.
        img_size: ``W`` (square) or ``(W, H)``; keep the shorter side >= 256 with the default
            ``size_range`` so every box is >= 32 px wide and high (mmdet's VOC configs flag
            smaller boxes as ignored through ``filter_cfg=dict(bbox_min_size=32)``).
        seed: Random seed; the same arguments give byte-identical files.
        classes: Names drawn (a subset of :data:`VOC_CLASSES` for upstream configs).
        num_train_2012: VOC2012 trainval image count (None -> ``num_train``).
        num_objects: Inclusive range of objects sampled per image.
        size_range: Object size range as fractions of the shorter image side.

    Returns:
        A summary dict (``format``, ``root``, ``classes``, ``splits``).
    """
    _check_counts(num_train, num_val)
    classes = _check_classes(classes, 'classes')
    num_2012 = num_train if num_train_2012 is None else int(num_train_2012)
    if num_2012 < 0:
        raise ValueError('num_train_2012 must be >= 0')
    w, h = _wh(img_size)
    make_poly = _axis_aligned_poly_factory(class_shape)
    devkit = osp.join(out_dir, 'VOCdevkit')
    splits: Dict[str, Dict[str, Any]] = {}
    jobs = (('VOC2007', 'voc2007', 'trainval', num_train, '{:06d}', 1),
            ('VOC2007', 'voc2007', 'test', num_val, '{:06d}', 100001),
            ('VOC2012', 'voc2012', 'trainval', num_2012, '2012_{:06d}', 1))
    for year, code, split, num, pattern, first in jobs:
        rng = _rng(seed, code, split)
        root = osp.join(devkit, year)
        os.makedirs(osp.join(root, 'JPEGImages'), exist_ok=True)
        os.makedirs(osp.join(root, 'Annotations'), exist_ok=True)
        ids, n_obj = [], 0
        for i in range(num):
            stem = pattern.format(first + i)
            img = _background(rng, w, h)
            objects = _layout(rng, w, h, len(classes), num_objects, size_range, make_poly)
            masks = _render(img, objects, rng)
            xml_objects = []
            for (label, _), mask in zip(objects, masks):
                ys, xs = np.nonzero(mask)
                box = (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1)
                xml_objects.append((str(classes[label]), 0, box))
            _write_image(osp.join(root, 'JPEGImages', stem + '.jpg'), img)
            _write_text(osp.join(root, 'Annotations', stem + '.xml'),
                        _voc_xml(year, stem, w, h, xml_objects))
            ids.append(stem)
            n_obj += len(objects)
        main = osp.join(root, 'ImageSets', 'Main')
        lists = {split: ids}
        if split == 'trainval':
            half = (len(ids) + 1) // 2
            lists.update(train=ids[:half], val=ids[half:])
        for name, lst in lists.items():
            _write_text(osp.join(main, f'{name}.txt'), ''.join(f'{s}\n' for s in lst))
        splits[f'{year}/{split}'] = dict(ann_file=osp.join(main, f'{split}.txt'), root=root,
                                         num_images=num, num_objects=n_obj)
    return _summary('voc', out_dir, classes, splits, (w, h), seed)


# --------------------------------------------------------------------------------------------
# DOTA
# --------------------------------------------------------------------------------------------
def _dota_aspect(label: int) -> float:
    """Long/short side ratio of class ``label``'s rectangles: 1.0, 1.8, 2.6, 1.0, ..."""
    return 1.0 + 0.8 * (label % 3)


def _dota_poly(rng: np.random.RandomState, label: int, iw: int, ih: int,
               side: int) -> Optional[np.ndarray]:
    """A rotated rectangle of class ``label`` (long side ``side``) somewhere in the image."""
    long_side = float(side)
    short_side = max(6.0, long_side / _dota_aspect(label))
    angle = rng.uniform(0, np.pi)
    cx = rng.uniform(0, iw - 1)
    cy = rng.uniform(0, ih - 1)
    return _rotated_rect(cx, cy, long_side, short_side, angle)


def _write_rotated(out_dir: str, fmt: str, jobs: Sequence[Tuple[str, int, int, Tuple[int, int]]],
                   stem: str, seed: int, classes: Sequence[str], difficult_prob: float,
                   num_objects: Tuple[int, int],
                   size_range: Tuple[float, float]) -> Dict[str, Dict[str, Any]]:
    """Write ``split/images/*.png`` + ``split/annfiles/*.txt`` (DOTA lines) for each
    ``(split, count, first index, (W, H))`` of ``jobs``; ``stem`` formats the index (and ``w``)."""
    splits: Dict[str, Dict[str, Any]] = {}
    for split, num, first, (w, h) in jobs:
        rng = _rng(seed, fmt, split)
        img_dir = osp.join(out_dir, split, 'images')
        ann_dir = osp.join(out_dir, split, 'annfiles')
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        n_obj = 0
        for i in range(num):
            name = stem.format(first + i, w=w)
            img = _background(rng, w, h)
            objects = _layout(rng, w, h, len(classes), num_objects, size_range, _dota_poly)
            _render(img, objects, rng)
            lines = []
            for label, poly in objects:
                difficult = int(rng.rand() < difficult_prob)
                coords = ' '.join(f'{float(v):.1f}' for v in poly.reshape(-1))
                lines.append(f'{coords} {classes[label]} {difficult}\n')
            _write_image(osp.join(img_dir, name + '.png'), img)
            _write_text(osp.join(ann_dir, name + '.txt'), ''.join(lines))
            n_obj += len(objects)
        splits[split] = dict(img_dir=img_dir, ann_dir=ann_dir, num_images=num,
                             num_objects=n_obj, img_size=(w, h))
    return splits


def make_dota(out_dir: str,
              num_train: int = 8,
              num_val: int = 4,
              img_size: ImgSize = 256,
              seed: int = 0,
              classes: Sequence[str] = DOTA_DEFAULT_CLASSES,
              difficult_prob: float = 0.1,
              num_objects: Tuple[int, int] = (2, 5),
              size_range: Tuple[float, float] = (0.12, 0.3)) -> Dict[str, Any]:
    """Write a split-DOTA (mmrotate 1.x ``split_ss_dota``) style rotated detection set.

    Layout: ``trainval/images/P%04d__<W>__0___0.png`` with ``trainval/annfiles/<same>.txt``
    (``num_train`` images) and the same under ``test/`` (``num_val`` images; real DOTA test has
    no labels, these do, so ``ann_file='test/annfiles/'`` works as a held-out set). Each txt line
    is ``x1 y1 x2 y2 x3 y3 x4 y4 classname difficult`` (clockwise corners of a rotated
    rectangle, drawn filled in the image). Class k has colour ``class_color(k)`` and aspect
    ratio ``1 + 0.8 * (k % 3)``. About ``difficult_prob`` of the objects get ``difficult`` 1.

    Note mmrotate's ``DOTADataset`` takes image height/width from its ``img_shape`` argument
    (default 1024x1024), not from the files; pass ``img_shape=(H, W)`` matching ``img_size``.

    Args:
        out_dir: Output root (created if needed).
        num_train, num_val: Number of ``trainval`` / ``test`` images.
        img_size: ``W`` (square) or ``(W, H)``.
        seed: Random seed; the same arguments give byte-identical files.
        classes: Names drawn (a subset of :data:`DOTA_CLASSES` for upstream configs).
        difficult_prob: Probability of ``difficult`` = 1 per object.
        num_objects: Inclusive range of objects sampled per image.
        size_range: Range of the long side as fractions of the shorter image side.

    Returns:
        A summary dict (``format``, ``root``, ``classes``, ``splits``).
    """
    _check_counts(num_train, num_val)
    classes = _check_classes(classes, 'classes')
    w, h = _wh(img_size)
    jobs = (('trainval', num_train, 0, (w, h)), ('test', num_val, 5000, (w, h)))
    splits = _write_rotated(out_dir, 'dota', jobs, 'P{:04d}__{w}__0___0', seed, classes,
                            difficult_prob, num_objects, size_range)
    return _summary('dota', out_dir, classes, splits, (w, h), seed)


def make_star(out_dir: str,
              num_train: int = 8,
              num_val: int = 2,
              img_size: ImgSize = 256,
              test_img_size: Optional[ImgSize] = None,
              seed: int = 0,
              classes: Sequence[str] = STAR_DEFAULT_CLASSES,
              difficult_prob: float = 0.0,
              num_objects: Tuple[int, int] = (2, 5),
              size_range: Tuple[float, float] = (0.12, 0.3)) -> Dict[str, Any]:
    """Write a STAR style rotated detection set: the DOTA format of :func:`make_dota` in STAR's
    layout ``{train,test}/{images,annfiles}/S%04d.{png,txt}`` (whole images, no patch suffix).

    The test images can be larger (``test_img_size``, default ``img_size``), as STAR's whole test
    scenes are much larger than its 1024 training patches; objects keep the same sizes in pixels
    (``size_range`` is relative to the train images' shorter side) and the test set keeps the same
    number of objects per image (``num_objects``).

    Args:
        out_dir: Output root (``data/STAR/`` of the STAR configs).
        num_train, num_val: Number of ``train`` / ``test`` images.
        img_size, test_img_size: ``W`` (square) or ``(W, H)`` of the train / test images.
        seed: Random seed; the same arguments give byte-identical files.
        classes: STAR class names drawn.
        difficult_prob, num_objects, size_range: As :func:`make_dota`.

    Returns:
        A summary dict (``format``, ``root``, ``classes``, ``splits``).
    """
    _check_counts(num_train, num_val)
    classes = _check_classes(classes, 'classes')
    w, h = _wh(img_size)
    test_wh = _wh(img_size if test_img_size is None else test_img_size)
    splits = _write_rotated(out_dir, 'star', [('train', num_train, 0, (w, h))], 'S{:04d}', seed,
                            classes, difficult_prob, num_objects, size_range)
    # the same object sizes in pixels in both splits (one ground sampling distance)
    ratio = min(w, h) / min(test_wh)
    splits.update(_write_rotated(out_dir, 'star', [('test', num_val, 5000, test_wh)], 'S{:04d}',
                                 seed, classes, difficult_prob, num_objects,
                                 (size_range[0] * ratio, size_range[1] * ratio)))
    return _summary('star', out_dir, classes, splits, (w, h), seed)


_MAKERS: Dict[str, Callable[..., Dict[str, Any]]] = dict(
    coco=make_coco, ade20k=make_ade20k, voc=make_voc, dota=make_dota, star=make_star)


def make_dataset(fmt: str, out_dir: str, **kwargs: Any) -> Dict[str, Any]:
    """Dispatch to ``make_<fmt>``; ``fmt`` is one of :data:`FORMATS` (``'ade'`` = ``'ade20k'``)."""
    key = fmt.lower()
    key = 'ade20k' if key == 'ade' else key
    if key not in _MAKERS:
        raise ValueError(f'unknown format {fmt!r}; expected one of {FORMATS}')
    return _MAKERS[key](out_dir, **kwargs)
