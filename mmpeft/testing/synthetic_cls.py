"""Small deterministic synthetic image-classification sets in the on-disk layouts of Flowers102,
Oxford-IIIT Pet and PASCAL VOC2007 (the Mona paper's single-label lists and the standard
multi-label layout), as mmpretrain's ``Flowers102``, ``OxfordIIITPet``, ``CustomDataset`` and
``VOC`` read them.

Each image shows one filled shape of its class (colour and shape of class ``k`` as in
:mod:`.synthetic`) on a noisy grey background, so a classifier can learn it from a few images.

Layouts written (``DIR`` = ``out_dir``)::

    flowers102: DIR/jpg/image_XXXXX.jpg, DIR/imagelabels.mat ('labels', 1-based),
                DIR/setid.mat ('trnid', 'valid', 'tstid': 1-based image ids)
    pets:       DIR/images/<Breed>_<n>.jpg,
                DIR/annotations/{trainval,test}.txt ("<Breed>_<n> CLASS-ID SPECIES BREED-ID")
    voc_cls:    DIR/VOCdevkit/VOC2007/ (:func:`~.synthetic.make_voc`'s VOC2007, the multi-label
                layout) plus DIR/VOCdevkit/VOC2007/{train,test}2mmcls.txt, the single-label lists
                ("JPEGImages/XXXXXX.jpg LABEL", the label of the image's largest object)
"""
import os.path as osp
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from .synthetic import (
    VOC_CLASSES,
    ImgSize,
    _background,
    _check_counts,
    _render,
    _shape_polygon,
    _summary,
    _wh,
    _write_image,
    _write_text,
    class_shape,
    make_voc,
)

__all__ = ['PET_BREEDS', 'make_flowers102', 'make_pets', 'make_voc_cls']

#: The 37 Oxford-IIIT Pet breeds in class-id order (cats capitalised, as in the file names).
PET_BREEDS: Tuple[str, ...] = (
    'Abyssinian', 'american_bulldog', 'american_pit_bull_terrier', 'basset_hound', 'beagle',
    'Bengal', 'Birman', 'Bombay', 'boxer', 'British_Shorthair', 'chihuahua', 'Egyptian_Mau',
    'english_cocker_spaniel', 'english_setter', 'german_shorthaired', 'great_pyrenees',
    'havanese', 'japanese_chin', 'keeshond', 'leonberger', 'Maine_Coon', 'miniature_pinscher',
    'newfoundland', 'Persian', 'pomeranian', 'pug', 'Ragdoll', 'Russian_Blue', 'saint_bernard',
    'samoyed', 'scottish_terrier', 'shiba_inu', 'Siamese', 'Sphynx', 'staffordshire_bull_terrier',
    'wheaten_terrier', 'yorkshire_terrier')


_CODES = {'flowers102': 21, 'pets': 22}
_SPLITS = {'train': 1, 'val': 2, 'trainval': 3, 'test': 4}


def _one_object_images(code: str, split: str, labels: Sequence[int], img_size: ImgSize,
                       seed: int) -> List[np.ndarray]:
    """One RGB image per label, showing one shape of that class over about half the image."""
    w, h = _wh(img_size)
    rng = np.random.RandomState([int(seed), _CODES[code], _SPLITS[split]])
    images = []
    for label in labels:
        img = _background(rng, w, h)
        bw, bh = (int(min(w, h) * rng.uniform(0.45, 0.7)) for _ in range(2))
        x, y = rng.randint(0, w - bw + 1), rng.randint(0, h - bh + 1)
        _render(img, [(label, _shape_polygon(class_shape(label), x, y, bw, bh, rng))], rng)
        images.append(img)
    return images


def _labels(num: int, num_classes: int) -> List[int]:
    """``num`` labels cycling through the first ``num_classes`` classes."""
    return [i % num_classes for i in range(num)]


def make_flowers102(out_dir: str, num_train: int = 4, num_val: int = 2, num_test: int = 4,
                    num_classes: int = 4, img_size: ImgSize = 64, seed: int = 0
                    ) -> Dict[str, Any]:
    """Write a Flowers102-style set: ``jpg/image_%05d.jpg`` (ids from 1) and the two MATLAB files
    mmpretrain's ``Flowers102`` reads (labels 1..102; train, val and test ids). Labels cycle
    through the first ``num_classes`` of the 102 classes. Use ``data_root=out_dir``.
    """
    import mat4py  # an mmpretrain dependency
    _check_counts(num_train, num_val)
    if min(num_train, num_val, num_test) < 2 or not 1 <= num_classes <= 102:
        raise ValueError('need at least 2 images per split (MATLAB stores one as a scalar) '
                         f'and 1..102 classes, got {num_train}, {num_val}, {num_test}, '
                         f'{num_classes}')
    labels, ids, splits = [], {}, {}
    for key, split, num in (('trnid', 'train', num_train), ('valid', 'val', num_val),
                            ('tstid', 'test', num_test)):
        split_labels = _labels(num, num_classes)
        for i, img in enumerate(_one_object_images('flowers102', split, split_labels, img_size,
                                                   seed)):
            _write_image(osp.join(out_dir, 'jpg', f'image_{len(labels) + i + 1:05d}.jpg'), img)
        ids[key] = list(range(len(labels) + 1, len(labels) + num + 1))
        labels += split_labels
        splits[split] = dict(num_images=num)
    mat4py.savemat(osp.join(out_dir, 'imagelabels.mat'), {'labels': [k + 1 for k in labels]})
    mat4py.savemat(osp.join(out_dir, 'setid.mat'), ids)
    return _summary('flowers102', out_dir, tuple(str(k) for k in range(num_classes)), splits,
                    _wh(img_size), seed)


def make_pets(out_dir: str, num_train: int = 4, num_val: int = 4, num_classes: int = 4,
              img_size: ImgSize = 64, seed: int = 0) -> Dict[str, Any]:
    """Write an Oxford-IIIT Pet-style set: ``images/<Breed>_<n>.jpg`` and
    ``annotations/{trainval,test}.txt`` as mmpretrain's ``OxfordIIITPet`` reads them (class id
    1..37, species 1 cat / 2 dog, breed id within the species). Labels cycle through the first
    ``num_classes`` breeds. Use ``data_root=out_dir``.
    """
    _check_counts(num_train, num_val)
    if not 1 <= num_classes <= len(PET_BREEDS):
        raise ValueError(f'num_classes must be in 1..{len(PET_BREEDS)}, got {num_classes}')
    cats = [b for b in PET_BREEDS if b[0].isupper()]
    dogs = [b for b in PET_BREEDS if not b[0].isupper()]
    counts = {b: 0 for b in PET_BREEDS}
    splits = {}
    for split, num in (('trainval', num_train), ('test', num_val)):
        labels = _labels(num, num_classes)
        lines = []
        for label, img in zip(labels, _one_object_images('pets', split, labels, img_size, seed)):
            breed = PET_BREEDS[label]
            counts[breed] += 1
            stem = f'{breed}_{counts[breed]}'
            _write_image(osp.join(out_dir, 'images', stem + '.jpg'), img)
            species, breed_id = (1, cats.index(breed) + 1) if breed in cats else \
                (2, dogs.index(breed) + 1)
            lines.append(f'{stem} {label + 1} {species} {breed_id}\n')
        _write_text(osp.join(out_dir, 'annotations', f'{split}.txt'), ''.join(lines))
        splits[split] = dict(num_images=num)
    return _summary('pets', out_dir, PET_BREEDS[:num_classes], splits, _wh(img_size), seed)


def make_voc_cls(out_dir: str, num_train: int = 4, num_val: int = 4,
                 classes: Sequence[str] = VOC_CLASSES[:5], img_size: ImgSize = 96,
                 seed: int = 0) -> Dict[str, Any]:
    """Write VOC2007 for both classification protocols: :func:`~.synthetic.make_voc`'s VOC2007
    (trainval / test, read by mmpretrain's multi-label ``VOC``) and the single-label lists
    ``train2mmcls.txt`` / ``test2mmcls.txt`` next to it, the largest object's class
    (its index in :data:`~.synthetic.VOC_CLASSES`) per image. Use
    ``data_root=out_dir/VOCdevkit/VOC2007/``.
    """
    from xml.etree import ElementTree
    unknown = [c for c in classes if c not in VOC_CLASSES]
    if unknown:
        raise ValueError(f'not VOC classes: {unknown}')
    summary = make_voc(out_dir, num_train=num_train, num_val=num_val, img_size=img_size,
                       seed=seed, classes=classes, num_train_2012=0, num_objects=(1, 2),
                       size_range=(0.2, 0.45))
    root = osp.join(out_dir, 'VOCdevkit', 'VOC2007')
    for split, lst in (('train', 'trainval'), ('test', 'test')):
        with open(osp.join(root, 'ImageSets', 'Main', f'{lst}.txt')) as f:
            stems = f.read().split()
        lines = []
        for stem in stems:
            objects = []
            for obj in ElementTree.parse(osp.join(root, 'Annotations', stem + '.xml')).iter(
                    'object'):
                x0, y0, x1, y1 = (int(obj.find(f'bndbox/{k}').text)
                                  for k in ('xmin', 'ymin', 'xmax', 'ymax'))
                objects.append(((x1 - x0) * (y1 - y0), obj.find('name').text))
            lines.append(f'JPEGImages/{stem}.jpg {VOC_CLASSES.index(max(objects)[1])}\n')
        _write_text(osp.join(root, f'{split}2mmcls.txt'), ''.join(lines))
    summary['format'] = 'voc_cls'
    return summary
