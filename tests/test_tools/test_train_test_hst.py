"""End to end through tools/: each task family's HST config (the Mona recipe on a frozen ViT with
the HST side network), shrunk to a tiny ViT + side network on synthetic data in the family's
format, trains a few iterations and is tested.

Same families, data, schedules and shrinking as ``test_e2e.py``; the run must show HSTViT with its
trainable count, the frozen ViT weights unchanged, and the side network in the checkpoint.
"""
import pytest
import torch

from mmpeft.models.backbones import HSTViT
from mmpeft.models.utils import count_parameters

from e2e_utils import FAMILIES, TINY_HST, train_then_test, write_tiny_vit_checkpoint

HST_CONFIGS = {
    'coco': 'hst/cascade-mask-rcnn_vit-b-hst-b_fpn_ms-3x_coco.py',
    'ade20k': 'hst/upernet_vit-b-hst-b_8xb2-160k_ade20k-512x512.py',
    'voc': 'hst/retinanet_vit-b-hst-b_fpn_1x_voc0712.py',
    'dota': 'hst/oriented-rcnn-le90_vit-b-hst-b_fpn_1x_dota.py',
}


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    return write_tiny_vit_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'vit_tiny.pth'))


@pytest.mark.parametrize('fmt', sorted(HST_CONFIGS))
def test_hst_config_trains_and_tests(fmt, tmp_path, tiny_ckpt):
    tiny = HSTViT(**TINY_HST)
    n_train = count_parameters(tiny)['trainable']
    family = dict(FAMILIES[fmt], config=HST_CONFIGS[fmt],
                  expect_log=rf'HSTViT\(side \[16, 24, 32, 40\], depths \[1, 1, 1, 1\]\): '
                  rf'{n_train:,} trainable')

    def check_train(log: str, saved: str) -> None:
        state = torch.load(saved, map_location='cpu', weights_only=False)['state_dict']
        source = torch.load(tiny_ckpt, weights_only=True)['model']
        # frozen ViT weights are the file's; the attention of block 0 did not move
        assert torch.equal(state['backbone.layers.0.attn.attn.in_proj_weight'],
                           source['blocks.0.attn.qkv.weight'])
        assert torch.equal(state['backbone.pos_embed'], source['pos_embed'])
        side = [k for k in state if k.startswith(('backbone.side_stages.', 'backbone.bridges.'))]
        assert len(side) == len([k for k in tiny.state_dict()
                                 if k.startswith(('side_stages.', 'bridges.'))])
        assert state['backbone.meta_tokens'].shape == tiny.meta_tokens.shape

    train_then_test(family, fmt, tmp_path, tiny_ckpt, check_train)
