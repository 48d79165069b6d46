"""STAR end to end: synthetic STAR scenes are cut into patches by tools/dataset_converters/
star_split.py, the STAR H2RBox-v2 Mona config (shrunk to a tiny Swin) trains on the patches through
tools/train.py, validating on the whole test scenes (sliding windows read from the PNG files,
merged by class-agnostic NMS, mmrotate's DOTAMetric), and tools/test.py scores them again from
.npy copies (memory-mapped windows): the same mAP."""
import glob
import os.path as osp
import re

import cv2
import numpy as np

from mmpeft.testing import make_star

from e2e_utils import metrics_from_log, python_tool, shrink_config, write_tiny_swin_checkpoint

MONA = 'h2rbox_v2/h2rbox-v2-le90_swin-b-mona_fpn_1x_star.py'
SIZE = 128  # train scenes (one patch each); the recipe's 1024 scaled by 1/8
WINDOW, OVERLAP = 128, 25  # the recipe's 1024 / 200, scaled by 1/8
# big shapes (38-64 px), 1-3 per scene, squares ('airplane') and 1.8:1 rectangles ('ship'); test
# scenes of 256 x 192 (6 windows each) with objects of the same pixel sizes
DATA = dict(num_train=16, num_val=2, img_size=SIZE, test_img_size=(256, 192),
            classes=('airplane', 'ship'), num_objects=(1, 3), size_range=(0.3, 0.5))
# validation after the last epoch: the loop decodes the scenes' PNG files
SCHEDULE = {'train_cfg.max_epochs': 2, 'train_cfg.val_interval': 2}
EXTRA = {
    'randomness': dict(seed=0),
    'optim_wrapper.optimizer.lr': 1e-3,
    'param_scheduler': [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10)],
    'model.bbox_head.stacked_convs': 2,
    'model.bbox_head.norm_cfg': dict(type='GN', num_groups=8, requires_grad=True),
    'train_dataloader.dataset.img_shape': (SIZE, SIZE),
    'test_cfg.window': WINDOW, 'test_cfg.overlap': OVERLAP,
    'val_cfg.window': WINDOW, 'val_cfg.overlap': OVERLAP,
}


def test_star_split_train_and_whole_scene_test(tmp_path, clean_mmengine_globals):
    root = str(tmp_path / 'STAR')
    make_star(root, **DATA)
    split = str(tmp_path / 'split_ss_star')
    cut = python_tool('dataset_converters/star_split.py', osp.join(root, 'train'),
                      osp.join(split, 'train'), '--size', str(SIZE), '--gap', str(OVERLAP))
    assert cut.returncode == 0, cut.stdout + cut.stderr
    assert '[16/16]' in cut.stdout

    ckpt = write_tiny_swin_checkpoint(str(tmp_path / 'swin_tiny.pth'))
    extra = dict(EXTRA, **{'train_dataloader.dataset.data_root': split + '/'})
    cfg_file = shrink_config(MONA, root, ckpt, str(tmp_path / 'cfg.py'), SCHEDULE, SIZE / 1024,
                             extra)
    work = str(tmp_path / 'work')
    train = python_tool('train.py', cfg_file, '--work-dir', work)
    log = train.stdout + train.stderr
    assert train.returncode == 0, log[-5000:]
    assert re.search(r'Epoch\(train\) \[2\]\[8/8\].*loss_symmetry_ss: [0-9.]+', log), log[-3000:]

    val_map = [float(v) for v in re.findall(r'dota/mAP: ([0-9.]+)', log)]
    assert len(val_map) == 1, log[-3000:]
    assert len(re.findall(r'S500[01]\.png: 6/6 windows', log)) == 2, log[-3000:]

    npy_dir = tmp_path / 'npy'  # what tools/dataset_converters/images_to_npy.py writes
    npy_dir.mkdir()
    for png in glob.glob(osp.join(root, 'test', 'images', '*.png')):
        np.save(npy_dir / (osp.basename(png)[:-4] + '.npy'), cv2.imread(png))
    test = python_tool('test.py', cfg_file, osp.join(work, 'epoch_2.pth'), '--work-dir',
                       str(tmp_path / 'test'), '--cfg-options', f'test_cfg.npy_dir={npy_dir}')
    out = test.stdout + test.stderr
    assert test.returncode == 0, out[-5000:]
    assert len(re.findall(r'S500[01]\.npy: 6/6 windows', out)) == 2, out[-3000:]
    metrics = metrics_from_log(out)
    assert metrics.get('dota/mAP', 0) > 0, (metrics, out[-3000:])
    assert metrics['dota/mAP'] == val_map[0]
    print(f"STAR tiny Mona, whole-scene rotated mAP: {metrics['dota/mAP']}")
