"""End to end through tools/: SSF's VOC config (RetinaNet, Swin-L shrunk to a tiny Swin) trained
two iterations on synthetic data by ``tools/train.py`` and tested by ``tools/test.py``: the frozen
Swin weights stay as loaded, the SSF scales and shifts train and are saved."""
import torch

from mmpeft.compat import load_checkpoint_file

from e2e_utils import FAMILIES, train_then_test, write_tiny_swin_checkpoint


def test_ssf_config_trains_and_tests(tmp_path):
    ckpt = write_tiny_swin_checkpoint(str(tmp_path / 'swin_tiny.pth'))
    family = dict(FAMILIES['voc'], config='ssf/retinanet_swin-l-ssf_fpn_1x_voc0712.py',
                  expect_log=r'PEFTSwinTransformer: [\d,]+ trainable of [\d,]+ parameters')

    def check_train(log: str, saved: str) -> None:
        state = load_checkpoint_file(saved)['state_dict']
        source = torch.load(ckpt, weights_only=True)['model']
        # the wrapped Linear keeps its pretrained name and value (SSF is not merged into it)
        assert torch.equal(state['backbone.stages.0.blocks.0.attn.w_msa.qkv.weight'],
                           source['layers.0.blocks.0.attn.qkv.weight'])
        scales = {k: v for k, v in state.items() if k.startswith('backbone.') and 'ssf_scale' in k}
        # six per block (tiny Swin: 5 blocks), plus the patch projection and its norm
        assert len(scales) == 5 * 6 + 2, sorted(scales)
        assert 'backbone.patch_embed.norm.ssf_shift' in state

    train_then_test(family, 'voc', tmp_path, ckpt, check_train)
