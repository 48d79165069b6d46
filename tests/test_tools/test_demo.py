"""The demo job (``make demo``) with a shorter schedule: the loss falls and AP is above zero."""
import re
import subprocess
import sys

import mmcv

from e2e_utils import REPO


def test_demo_learns_the_synthetic_shapes(tmp_path):
    out = subprocess.run(
        [sys.executable, f'{REPO}/tools/misc/demo.py', '--work-dir', str(tmp_path / 'work'),
         '--data-root', str(tmp_path / 'data'), '--epochs', '4', '--num-train', '32',
         '--num-val', '8', '--log-interval', '2'],
        cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    loss = re.search(r'training loss: ([0-9.]+) \(first logs\) -> ([0-9.]+)', out.stdout)
    bbox = re.search(r'bbox AP: ([0-9.]+)', out.stdout)
    segm = re.search(r'segm AP: ([0-9.]+)', out.stdout)
    assert loss and bbox and segm, out.stdout[-3000:]
    assert float(loss.group(2)) < 0.8 * float(loss.group(1))
    assert float(bbox.group(1)) > 0.05 and float(segm.group(1)) > 0.05
    assert 'backbone trainable share' in out.stdout
    assert (tmp_path / 'work' / 'epoch_4.pth').is_file()
    # the predictions drawn on the validation images (image_demo.py), side by side in one picture
    drawn = sorted((tmp_path / 'work' / 'vis').glob('*.png'))
    assert len(drawn) == 3, drawn
    picture = mmcv.imread(str(tmp_path / 'work' / 'vis' / 'predictions.jpg'))
    first = mmcv.imread(str(drawn[0]))
    assert picture.shape == (first.shape[0], 3 * first.shape[1], 3)
    assert f'predictions drawn: {tmp_path}' in out.stdout
