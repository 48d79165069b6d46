"""tools/misc/image_demo.py and mmpeft.apis.init_model on tiny det, seg and rotated models."""
import os.path as osp
import sys

import mmcv
import numpy as np
import pytest
import torch

from e2e_utils import REPO

sys.path.insert(0, osp.join(REPO, 'tools', 'misc'))
import image_demo  # noqa: E402

pytestmark = pytest.mark.usefixtures('clean_mmengine_globals')


def run_demo(serve_files, task, out_dir, *extra):
    image_demo.main([serve_files.configs[task], serve_files.small[task], serve_files.image,
                     '--out-dir', str(out_dir), *extra])
    out = osp.join(str(out_dir), 'shapes.png')
    assert osp.isfile(out), out
    return mmcv.imread(out), mmcv.imread(serve_files.image)


@pytest.mark.parametrize('task', ['det', 'seg', 'rot'])
def test_demo_draws_the_predictions(serve_files, tmp_path, task):
    drawn, original = run_demo(serve_files, task, tmp_path, '--score-thr', '0')
    assert drawn.shape == original.shape
    changed = np.any(drawn != original, axis=2)
    assert changed.mean() > 0.002, f'{task}: only {changed.sum()} pixels drawn'


def test_demo_draws_nothing_without_detections(serve_files, tmp_path):
    """The control: with every box under the score threshold the picture is the input."""
    drawn, original = run_demo(serve_files, 'det', tmp_path, '--score-thr', '1.01')
    assert np.array_equal(drawn, original)


@pytest.mark.parametrize('task', ['det', 'seg', 'rot'])
def test_trainable_only_checkpoint_loads_the_trained_model(serve_files, task):
    """The small file gives every tensor of the full model it was cut from, the frozen base
    weights included."""
    from mmpeft.apis import init_model
    model = init_model(serve_files.configs[task], serve_files.small[task])
    full = torch.load(serve_files.full[task], weights_only=True)['state_dict']
    own = model.state_dict()
    assert set(own) == set(full)
    differ = [k for k in own if not torch.equal(own[k], full[k])]
    assert not differ, differ[:5]
    small = torch.load(serve_files.small[task], weights_only=True)['state_dict']
    assert any(k.startswith('backbone.') and k not in small for k in own)  # came from the base


def test_missing_image_is_reported(serve_files, tmp_path):
    with pytest.raises(SystemExit, match='not found'):
        image_demo.main([serve_files.configs['det'], serve_files.small['det'],
                         str(tmp_path / 'nope.jpg'), '--out-dir', str(tmp_path)])


def test_array_input_predicts_as_the_file(serve_files):
    from mmpeft.apis import inference_model, init_model
    model = init_model(serve_files.configs['seg'], serve_files.small['seg'])
    from_file = inference_model(model, serve_files.image)
    from_array = inference_model(model, mmcv.imread(serve_files.image))
    assert torch.equal(from_file.seg_logits.data, from_array.seg_logits.data)
