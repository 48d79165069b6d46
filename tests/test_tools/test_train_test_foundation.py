"""End to end through tools/: the DINOv2-B + Mona configs of configs/foundation/ (ViTDet's COCO
recipe, UperNet on ADE20K, both with the SimpleFPN), shrunk to a tiny DINOv2-style ViT (patch 14,
layer scale, 4 registers, antialiased position interpolation) loaded from a file in DINOv2's hub
layout, train a few iterations on synthetic data and are tested.

The run must show PEFTViT with its trainable count, leave the frozen ViT weights as the file has
them, and save Mona's modules."""
import pytest
import torch

from mmpeft.models.backbones import PEFTViT
from mmpeft.models.utils import count_parameters

from e2e_utils import FAMILIES, TINY_DINOV2, train_then_test, write_tiny_dinov2_checkpoint

# beside the tiny backbone, the heads' work is cut for a 2-core CPU: fewer RoIs and proposals
# (ViTDet's 4conv1fc box head on 512 RoIs is most of a step), a narrower SimpleFPN for UperNet
CONFIGS = {
    'coco': dict(FAMILIES['coco'],
                 config='foundation/mask-rcnn_dinov2-b-mona_simplefpn_lsj-100e_coco.py',
                 schedule={'train_cfg.max_epochs': 1, 'train_dataloader.dataset.times': 1},
                 extra=dict(FAMILIES['coco']['extra'], **{
                     'model.train_cfg.rcnn.sampler.num': 64,
                     'model.train_cfg.rpn_proposal.max_per_img': 100,
                     'model.test_cfg.rpn.max_per_img': 100})),
    'ade20k': dict(FAMILIES['ade20k'],
                   config='foundation/upernet_dinov2-b-mona_simplefpn_8xb2-160k_ade20k-512x512.py',
                   extra={'model.neck.out_channels': 32, 'model.decode_head.in_channels': [32] * 4,
                          'model.auxiliary_head.in_channels': 32}),
}


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    return write_tiny_dinov2_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'dinov2.pth'))


@pytest.mark.parametrize('fmt', sorted(CONFIGS))
def test_dinov2_mona_trains_and_tests(fmt, tmp_path, tiny_ckpt):
    tiny = PEFTViT(method=dict(type='Mona'), **TINY_DINOV2)
    n_train = count_parameters(tiny)['trainable']
    family = dict(CONFIGS[fmt], expect_log=rf'PEFTViT\(Mona\): {n_train:,} trainable of',
                  extra=dict(CONFIGS[fmt].get('extra', {}), **{'model.backbone': TINY_DINOV2}))

    def check_train(log: str, saved: str) -> None:
        assert 'checkpoint layout "dinov2"' in log
        state = torch.load(saved, map_location='cpu', weights_only=False)['state_dict']
        source = torch.load(tiny_ckpt, weights_only=True)
        for ours, theirs in (('layers.0.attn.qkv.weight', 'blocks.0.attn.qkv.weight'),
                             ('layers.3.ffn.gamma2.weight', 'blocks.3.ls2.gamma'),
                             ('register_tokens', 'register_tokens'), ('pos_embed', 'pos_embed')):
            assert torch.equal(state[f'backbone.{ours}'], source[theirs]), ours
        monas = [k for k in state if k.startswith('backbone.') and '.mona' in k]
        assert len(monas) == len([k for k in tiny.state_dict() if '.mona' in k])

    train_then_test(family, fmt, tmp_path, tiny_ckpt, check_train)
