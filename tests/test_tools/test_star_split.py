"""tools/dataset_converters/star_split.py on a tiny synthetic scene: the reference's windows, patch
pixels padded with the mean, objects kept by the fraction inside (truncated ones marked 2)."""
import glob
import os.path as osp

import cv2
import numpy as np

from mmpeft.datasets import sliding_windows
from mmpeft.testing import make_star

from e2e_utils import python_tool

# a 150 x 110 scene; windows of 64 every 48 px: x 0/48/86, y 0/46
ANN = ('10 10 30 10 30 20 10 20 ship 0\n'        # A: inside window (0, 0) only
       '40 10 70 10 70 20 40 20 car 1\n'         # B: 80 % in (0, 0), 73 % in (48, 0)
       '100 80 140 80 140 100 100 100 tank 0\n')  # C: inside (86, 46) only; 30 % in (48, 46)
EXPECTED = {
    'S0000__64__0___0': ['10.0 10.0 30.0 10.0 30.0 20.0 10.0 20.0 ship 0',
                         '40.0 10.0 70.0 10.0 70.0 20.0 40.0 20.0 car 2'],
    'S0000__64__48___0': ['-8.0 10.0 22.0 10.0 22.0 20.0 -8.0 20.0 car 2'],
    'S0000__64__86___46': ['14.0 34.0 54.0 34.0 54.0 54.0 14.0 54.0 tank 0'],
}


def test_split_writes_patches_and_their_objects(tmp_path):
    src = str(tmp_path / 'STAR' / 'train')
    make_star(str(tmp_path / 'STAR'), num_train=1, num_val=1, img_size=(150, 110))
    with open(osp.join(src, 'annfiles', 'S0000.txt'), 'w') as f:
        f.write(ANN)
    dst = str(tmp_path / 'split' / 'train')
    out = python_tool('dataset_converters/star_split.py', src, dst, '--size', '64', '--gap', '16')
    assert out.returncode == 0, out.stdout + out.stderr
    assert '[1/1] S0000: 6 patches' in out.stdout

    windows = sliding_windows(150, 110, 64, 16)
    names = sorted(osp.basename(p)[:-4] for p in glob.glob(osp.join(dst, 'images', '*.png')))
    assert names == sorted(f'S0000__64__{x}___{y}' for x, y, _, _ in windows.tolist())
    assert len(glob.glob(osp.join(dst, 'annfiles', '*.txt'))) == 6
    for name in names:
        lines = open(osp.join(dst, 'annfiles', name + '.txt')).read().splitlines()
        assert lines == EXPECTED.get(name, []), name

    scene = cv2.imread(osp.join(src, 'images', 'S0000.png'))
    patch = cv2.imread(osp.join(dst, 'images', 'S0000__64__86___46.png'))
    np.testing.assert_array_equal(patch, scene[46:110, 86:150])


def test_split_pads_a_scene_smaller_than_the_patch(tmp_path):
    src = str(tmp_path / 'STAR' / 'train')
    make_star(str(tmp_path / 'STAR'), num_train=1, num_val=1, img_size=(50, 40))
    dst = str(tmp_path / 'split')
    out = python_tool('dataset_converters/star_split.py', src, dst, '--size', '64', '--gap', '16')
    assert out.returncode == 0, out.stdout + out.stderr
    patch = cv2.imread(osp.join(dst, 'images', 'S0000__64__0___0.png'))
    scene = cv2.imread(osp.join(src, 'images', 'S0000.png'))
    assert patch.shape == (64, 64, 3)
    np.testing.assert_array_equal(patch[:40, :50], scene)
    assert (patch[40:] == (104, 116, 124)).all() and (patch[:, 50:] == (104, 116, 124)).all()
    # every object of the scene is whole in its only patch, with its own difficulty
    src_lines = open(osp.join(src, 'annfiles', 'S0000.txt')).read().splitlines()
    got = open(osp.join(dst, 'annfiles', 'S0000__64__0___0.txt')).read().splitlines()
    assert [line.split()[8:] for line in got] == [line.split()[8:] for line in src_lines]


def test_split_names_a_missing_annotation(tmp_path):
    src = tmp_path / 'src'
    (src / 'images').mkdir(parents=True)
    cv2.imwrite(str(src / 'images' / 'x.png'), np.zeros((8, 8, 3), np.uint8))
    out = python_tool('dataset_converters/star_split.py', str(src), str(tmp_path / 'dst'))
    assert out.returncode != 0 and 'no annotation file' in out.stderr
