"""End to end through tools/: each task family's VPT config (the Mona recipe with VPTSwin), shrunk
to a tiny Swin on synthetic data in the family's format, trains a few iterations and is tested.

Same families, data, schedules and shrinking as ``test_e2e.py``; the run must show VPTSwin with only
its prompts trainable, the frozen Swin weights unchanged and the prompts in the checkpoint.
"""
import pytest
import torch

from e2e_utils import FAMILIES, train_then_test, write_tiny_swin_checkpoint

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
    family = dict(FAMILIES[fmt], config=VPT_CONFIGS[fmt],
                  expect_log=(rf'VPTSwin \(deep, {NUM_PROMPTS} prompts\): '
                              rf'{TINY_PROMPTS:,} trainable'))
    family['extra'] = dict(family.get('extra') or {}, **{'model.backbone.num_prompts': NUM_PROMPTS})

    def check_train(log: str, saved: str) -> None:
        # the frozen Swin weights did not move; the checkpoint holds the prompts
        state = torch.load(saved, map_location='cpu', weights_only=False)['state_dict']
        source = torch.load(tiny_ckpt, weights_only=True)['model']
        assert torch.equal(state['backbone.patch_embed.projection.weight'],
                           source['patch_embed.proj.weight'])
        prompt_keys = sorted(k for k in state if k.startswith('backbone.') and 'prompt' in k)
        assert prompt_keys == [
            'backbone.deep_prompt_embeddings_1', 'backbone.deep_prompt_embeddings_2',
            'backbone.deep_prompt_embeddings_3', 'backbone.prompt_embeddings'
        ]

    train_then_test(family, fmt, tmp_path, tiny_ckpt, check_train)
