"""STAR: the 48 classes in STAR-MMRotate's order, the dataset loading the DOTA-format layout, and
the ten H2RBox-v2 Swin-B configs on the STAR recipe (not DOTA's class indices)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

import mmpeft  # noqa: F401
from mmpeft.datasets import STAR_CLASSES, STAR_PALETTE, STARDataset
from mmpeft.testing import make_star

from e2e_utils import CONFIGS

METHODS = ('full', 'fixed', 'bitfit', 'norm-tuning', 'partial-1', 'adapter', 'adaptformer', 'lora',
           'lorand', 'mona')
STAR_CONFIGS = {m: osp.join(CONFIGS, 'h2rbox_v2', f'h2rbox-v2-le90_swin-b-{m}_fpn_1x_star.py')
                for m in METHODS}
# trainable backbone parameters of Swin-B (out_indices 1, 2, 3) per method, measured on the
# reference (classification_star.md B.5)
REFERENCE_TRAINABLE = {'full': 86_744_760, 'fixed': 0, 'bitfit': 201_528, 'norm-tuning': 59_136,
                       'partial-1': 12_601_632, 'adapter': 3_107_328, 'adaptformer': 1_553_664,
                       'lora': 3_080_192, 'lorand': 2_370_816, 'mona': 3_667_456}


def test_star_classes_are_the_references():
    assert len(STAR_CLASSES) == len(set(STAR_CLASSES)) == 48
    assert len(STAR_PALETTE) == 48
    assert STARDataset.METAINFO['classes'] == STAR_CLASSES
    # spot checks of the order (the label is the index)
    expected = {0: 'ship', 1: 'boat', 4: 'tank', 8: 'airplane', 9: 'boarding_bridge',
                11: 'taxiway', 29: 'cement_concrete_pavement', 44: 'roundabout',
                45: 'baseball_diamond', 47: 'containment_vessel'}
    assert {i: STAR_CLASSES[i] for i in expected} == expected
    init_default_scope('mmrotate')
    from mmrotate.registry import DATASETS
    assert DATASETS.get('STARDataset') is STARDataset


def test_star_dataset_loads_the_dota_layout(tmp_path):
    root = str(tmp_path / 'STAR')
    info = make_star(root, num_train=2, num_val=1, img_size=64, test_img_size=(96, 80))
    ds = STARDataset(data_root=root, ann_file='train/annfiles/',
                     data_prefix=dict(img_path='train/images/'), pipeline=[])
    assert len(ds) == 2
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    labels = [i['bbox_label'] for d in infos for i in d['instances']]
    assert len(labels) == info['splits']['train']['num_objects'] > 0
    names = {STAR_CLASSES[lab] for lab in labels}
    assert names <= set(info['classes'])
    assert infos[0]['img_path'].endswith('.png')
    # a class that STAR does not have is named in the error
    with open(glob.glob(osp.join(root, 'test', 'annfiles', '*.txt'))[0], 'a') as f:
        f.write('0 0 9 0 9 9 0 9 plane 0\n')
    with pytest.raises(ValueError, match="not one of the 48 classes of this dataset: 'plane'"):
        STARDataset(data_root=root, ann_file='test/annfiles/',
                    data_prefix=dict(img_path='test/images/'), pipeline=[])


@pytest.mark.parametrize('method', METHODS)
def test_star_config_is_the_star_recipe(method):
    cfg = Config.fromfile(STAR_CONFIGS[method])
    head = cfg.model.bbox_head
    assert head.num_classes == 48
    assert [STAR_CLASSES[i] for i in head.rotation_agnostic_classes] == ['tank', 'roundabout']
    assert head.agnostic_resize_classes == []
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.model.backbone.drop_path_rate == 0.2
    assert tuple(cfg.model.backbone.out_indices) == (1, 2, 3)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.type == 'STARDataset'
    assert cfg.train_dataloader.dataset.data_root == 'data/split_ss_star/'
    assert cfg.test_dataloader.dataset.data_root == 'data/STAR/'
    assert cfg.test_dataloader.dataset.ann_file == 'test/annfiles/'
    for loop, kind in ((cfg.val_cfg, 'Val'), (cfg.test_cfg, 'Test')):
        assert loop.type == f'SlidingWindow{kind}Loop'
        assert (loop.window, loop.overlap, loop.iou_thr, loop.batch_size,
                loop.pad_size_divisor) == (1024, 200, 0.4, 4, 64)
    assert cfg.train_cfg.val_interval == 6 and cfg.train_cfg.max_epochs == 12
    assert cfg.val_evaluator.type == 'DOTAMetric'


def test_the_ten_methods_and_their_readme_counts():
    """The ten STAR configs exist and configs/README.md (whose counts test_configs checks against
    the built models) lists the reference's trainable backbone parameters for each."""
    from test_configs import README_COUNTS
    found = sorted(glob.glob(osp.join(CONFIGS, 'h2rbox_v2', '*_star.py')))
    assert found == sorted(STAR_CONFIGS.values())
    for method, path in STAR_CONFIGS.items():
        rel = osp.relpath(path, CONFIGS)
        assert README_COUNTS[rel][0] == REFERENCE_TRAINABLE[method], (method, README_COUNTS[rel])


def test_star_whole_image_pipeline_reads_no_pixels(tmp_path):
    """The whole test scenes are never decoded by the pipeline: only the annotations (rotated
    boxes) and the image path go to the sliding-window loop."""
    root = str(tmp_path / 'STAR')
    make_star(root, num_train=1, num_val=1, img_size=64, test_img_size=(96, 80))
    cfg = Config.fromfile(STAR_CONFIGS['mona'])
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.data_root = root + '/'
    init_default_scope('mmrotate')
    from mmrotate.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmrotate'):
        sample = DATASETS.build(ds_cfg)[0]
    assert 'inputs' not in sample
    data_sample = sample['data_samples']
    assert data_sample.img_path.endswith('S5000.png')
    assert type(data_sample.gt_instances.bboxes).__name__ == 'RotatedBoxes'
    assert len(data_sample.gt_instances.bboxes) > 0
