"""End to end through tools/: the DINOv3-B + Mona COCO config of configs/foundation/ (ViTDet's
recipe with the SimpleFPN), shrunk to a tiny DINOv3 (patch 16, 4 storage tokens, rotary
positions) loaded from a file in DINOv3's released layout, trains a few iterations on synthetic
COCO and is tested.

The run must show PEFTDINOv3 with its trainable count, load the released layout, leave the frozen
ViT weights as the file has them (the q/k/v bias masked) and save Mona's modules."""
import torch

from mmpeft.models.backbones import PEFTDINOv3
from mmpeft.models.utils import count_parameters

from e2e_utils import FAMILIES, TINY_PEFT_DINOV3, train_then_test, write_tiny_dinov3_checkpoint

# beside the tiny backbone, the heads' work is cut for a 2-core CPU (as for DINOv2's run), and one
# training step (2 images, batch 2) is enough
COCO = dict(FAMILIES['coco'],
            config='foundation/mask-rcnn_dinov3-b-mona_simplefpn_lsj-100e_coco.py',
            data=dict(FAMILIES['coco']['data'], num_train=2),
            schedule={'train_cfg.max_epochs': 1, 'train_dataloader.dataset.times': 1},
            extra=dict(FAMILIES['coco']['extra'], **{
                'model.train_cfg.rcnn.sampler.num': 64,
                'model.train_cfg.rpn_proposal.max_per_img': 100,
                'model.test_cfg.rpn.max_per_img': 100}))


def test_dinov3_mona_trains_and_tests(tmp_path):
    ckpt = write_tiny_dinov3_checkpoint(str(tmp_path / 'dinov3.pth'))
    tiny = PEFTDINOv3(method=dict(type='Mona'), **TINY_PEFT_DINOV3)
    n_train = count_parameters(tiny)['trainable']
    family = dict(COCO, expect_log=rf'PEFTDINOv3\(Mona\): {n_train:,} trainable of')

    def check_train(log: str, saved: str) -> None:
        assert 'checkpoint layout "dinov3"' in log and 'mask_token' in log
        state = torch.load(saved, map_location='cpu', weights_only=False)['state_dict']
        source = torch.load(ckpt, weights_only=True)
        for key in ('blocks.0.attn.qkv.weight', 'blocks.3.ls2.gamma', 'storage_tokens',
                    'rope_embed.periods', 'norm.weight'):
            assert torch.equal(state[f'backbone.{key}'], source[key]), key
        bias = source['blocks.2.attn.qkv.bias'] * source['blocks.2.attn.qkv.bias_mask']
        assert torch.equal(state['backbone.blocks.2.attn.qkv.bias'], bias)
        monas = [k for k in state if k.startswith('backbone.') and '.mona' in k]
        assert len(monas) == len([k for k in tiny.state_dict() if '.mona' in k])

    train_then_test(family, 'coco', tmp_path, ckpt, check_train)
