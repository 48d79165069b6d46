"""The synthetic classification sets load through mmpretrain's own dataset classes, with the
labels and counts they were written with."""
import pytest
from mmengine.registry import DefaultScope

import mmpeft  # noqa: F401
from mmpeft.testing import PET_BREEDS, VOC_CLASSES, make_flowers102, make_pets, make_voc_cls


def build(cfg: dict):
    from mmpretrain.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(dict(cfg, pipeline=[]))


def test_flowers102(tmp_path):
    make_flowers102(str(tmp_path), num_train=3, num_val=2, num_test=4, num_classes=3)
    sets = {split: build(dict(type='Flowers102', data_root=str(tmp_path), split=split))
            for split in ('train', 'val', 'trainval', 'test')}
    assert {k: len(v) for k, v in sets.items()} == dict(train=3, val=2, trainval=5, test=4)
    test = sets['test']
    assert [test.get_data_info(i)['gt_label'] for i in range(4)] == [0, 1, 2, 0]
    assert test.get_data_info(0)['img_path'].endswith('jpg/image_00006.jpg')
    with pytest.raises(ValueError, match='at least 2 images per split'):
        make_flowers102(str(tmp_path / 'x'), num_val=1)


def test_pets(tmp_path):
    make_pets(str(tmp_path), num_train=5, num_val=3, num_classes=4)
    train = build(dict(type='OxfordIIITPet', data_root=str(tmp_path), split='trainval'))
    test = build(dict(type='OxfordIIITPet', data_root=str(tmp_path), split='test'))
    assert (len(train), len(test)) == (5, 3)
    labels = [train.get_data_info(i)['gt_label'] for i in range(5)]
    assert labels == [0, 1, 2, 3, 0]
    assert train.get_data_info(1)['img_path'].endswith(f'images/{PET_BREEDS[1]}_1.jpg')
    lines = (tmp_path / 'annotations' / 'trainval.txt').read_text().splitlines()
    assert lines[0] == 'Abyssinian_1 1 1 1' and lines[1] == 'american_bulldog_1 2 2 1'


def test_voc_single_and_multi_label(tmp_path):
    make_voc_cls(str(tmp_path), num_train=3, num_val=2, classes=VOC_CLASSES[:5])
    root = str(tmp_path / 'VOCdevkit' / 'VOC2007') + '/'
    single = build(dict(type='CustomDataset', data_root=root, ann_file='train2mmcls.txt',
                        with_label=True, metainfo=dict(classes=VOC_CLASSES)))
    multi = build(dict(type='VOC', data_root=root, split='trainval'))
    assert len(single) == len(multi) == 3
    for i in range(3):
        label = single.get_data_info(i)['gt_label']
        present = multi.get_data_info(i)['gt_label']
        assert 0 <= label < 5 and label in present, (label, present)
    assert len(build(dict(type='VOC', data_root=root, split='test'))) == 2
    with pytest.raises(ValueError, match='not VOC classes'):
        make_voc_cls(str(tmp_path / 'x'), classes=('cat', 'unicorn'))
