"""End to end through tools/: each task family's VPT config (the Mona recipe with VPTSwin), shrunk
to a tiny Swin on synthetic data in the family's format, trains a few iterations and is tested.

Same families, data, schedules and shrinking as ``test_e2e.py``; only the config path differs, and
the run must show VPTSwin with only its prompts trainable (``test_e2e.train_then_test`` checks for
the Mona/plain backbone names, so its steps are repeated here with the VPT checks).
"""
import glob
import os.path as osp
import re

import pytest
import torch

from e2e_utils import metrics_from_log, python_tool, shrink_config, write_tiny_swin_checkpoint
from mmpeft.datasets import make_dataset
from test_e2e import FAMILIES

VPT_CONFIGS = {
    'coco': 'vpt/cascade-mask-rcnn_swin-b-vpt-deep-p50_fpn_ms-3x_coco.py',
    'ade20k': 'vpt/upernet_swin-l-vpt-deep-p50_8xb2-160k_ade20k-512x512.py',
    'voc': 'vpt/retinanet_swin-l-vpt-deep-p50_fpn_1x_voc0712.py',
    'dota': 'vpt/oriented-rcnn-le90_swin-b-vpt-deep-p50_fpn_1x_dota.py',
}
# P is one config field: the runs use 8 prompts (CPU time); tiny Swin (tests/e2e_utils.TINY_SWIN,
# depths 1-1-2-1, widths 32-64-128-256): stage 0 has only prompt_embeddings
NUM_PROMPTS = 8
TINY_PROMPTS = NUM_PROMPTS * (32 + 64 + 2 * 128 + 256)


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    return write_tiny_swin_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'swin_tiny.pth'))


@pytest.mark.parametrize('fmt', sorted(VPT_CONFIGS))
def test_vpt_config_trains_and_tests(fmt, tmp_path, tiny_ckpt):
    family = dict(FAMILIES[fmt], config=VPT_CONFIGS[fmt])
    family['extra'] = dict(family.get('extra') or {}, **{'model.backbone.num_prompts': NUM_PROMPTS})
    root = str(tmp_path / 'data')
    make_dataset(fmt, root, **family['data'])
    cfg = shrink_config(family['config'], osp.join(root, family.get('data_subdir', '')),
                        tiny_ckpt, str(tmp_path / 'cfg.py'), family['schedule'],
                        family['size_factor'], family.get('extra'))
    work = str(tmp_path / 'work')
    train = python_tool('train.py', cfg, '--work-dir', work)
    log = train.stdout + train.stderr
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-5000:]
    m = re.search(rf'VPTSwin \(deep, {NUM_PROMPTS} prompts\): ([\d,]+) trainable', log)
    assert m, log[-3000:]
    assert int(m.group(1).replace(',', '')) == TINY_PROMPTS
    saved = osp.join(work, family['ckpt'])
    assert osp.isfile(saved), sorted(glob.glob(work + '/*'))

    # the frozen Swin weights did not move; the checkpoint holds the prompts
    state = torch.load(saved, map_location='cpu', weights_only=False)['state_dict']
    source = torch.load(tiny_ckpt, weights_only=True)['model']
    assert torch.equal(state['backbone.patch_embed.projection.weight'],
                       source['patch_embed.proj.weight'])
    prompt_keys = sorted(k for k in state if k.startswith('backbone.') and 'prompt' in k)
    assert prompt_keys == ['backbone.deep_prompt_embeddings_1', 'backbone.deep_prompt_embeddings_2',
                           'backbone.deep_prompt_embeddings_3', 'backbone.prompt_embeddings']

    test_dir = str(tmp_path / 'test')
    test = python_tool('test.py', cfg, saved, '--work-dir', test_dir,
                       '--out', str(tmp_path / 'preds.pkl'))
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-5000:]
    shown = metrics_from_log(test.stdout + test.stderr)
    for key in family['metrics']:
        assert any(k.endswith(key) for k in shown), (key, shown, test.stdout[-2000:])
    logs = glob.glob(osp.join(test_dir, '*', '*.log'))
    assert logs, 'tools/test.py wrote no log'
    assert osp.getsize(str(tmp_path / 'preds.pkl')) > 0
