"""End to end through tools/ for the method zoo: SSF (the frozen Swin weights stay as loaded, the
scales and shifts train and are saved), CoLin (its loss_orth summed into the loss and logged) and
Conv-Adapter on PEFTResNet, each on a real config shrunk to a tiny backbone on synthetic data,
trained a few iterations and then tested."""
import re

import pytest
import torch

from mmpeft.compat import load_checkpoint_file

from e2e_utils import (
    FAMILIES,
    train_then_test,
    write_tiny_resnet_checkpoint,
    write_tiny_swin_checkpoint,
)

# two training iterations (the VOC recipe repeats its data 3x) on ~250 px images, no validation
# during training: tools/test.py evaluates the checkpoint
FAST = {'train_cfg.val_interval': 100}


@pytest.fixture(scope='module')
def tiny_swin(tmp_path_factory):
    return write_tiny_swin_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'swin_tiny.pth'))


@pytest.fixture(scope='module')
def tiny_resnet(tmp_path_factory):
    return write_tiny_resnet_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'r50_tiny.pth'))


def saved_backbone(saved: str) -> dict:
    state = load_checkpoint_file(saved)['state_dict']
    return {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}


def test_ssf_config_trains_and_tests(tmp_path, tiny_swin):
    family = dict(FAMILIES['voc'], config='ssf/retinanet_swin-l-ssf_fpn_1x_voc0712.py',
                  expect_log=r'PEFTSwinTransformer: [\d,]+ trainable of [\d,]+ parameters',
                  size_factor=0.25, extra=dict(FAST, **{'train_dataloader.dataset.times': 1}))

    def check_train(log: str, saved: str) -> None:
        state = saved_backbone(saved)
        source = torch.load(tiny_swin, weights_only=True)['model']
        # the wrapped Linear keeps its pretrained name and value (SSF is not merged into it)
        assert torch.equal(state['stages.0.blocks.0.attn.w_msa.qkv.weight'],
                           source['layers.0.blocks.0.attn.qkv.weight'])
        scales = [k for k in state if 'ssf_scale' in k]
        # six per block (tiny Swin: 5 blocks), plus the patch projection and its norm
        assert len(scales) == 5 * 6 + 2, sorted(scales)
        assert 'patch_embed.norm.ssf_shift' in state

    train_then_test(family, 'voc', tmp_path, tiny_swin, check_train=check_train)


def test_colin_trains_with_loss_orth_and_tests(tmp_path, tiny_swin):
    family = dict(FAMILIES['voc'], config='colin/retinanet_swin-l-colin_fpn_1x_voc0712.py',
                  expect_log=r'PEFTSwinTransformer: [\d,]+ trainable of [\d,]+ parameters',
                  size_factor=0.25, extra=dict(FAST, **{'train_dataloader.dataset.times': 1}))

    def check_train(log: str, saved: str) -> None:
        values = [float(v) for v in re.findall(r'loss_orth: ([0-9.]+)', log)]
        assert values and all(v > 0 for v in values), log[-3000:]
        # the total is the sum of the terms, loss_orth included
        m = re.search(r' loss: ([0-9.]+)  loss_cls: ([0-9.]+)  loss_bbox: ([0-9.]+)  '
                      r'loss_orth: ([0-9.]+)', log)
        assert m, log[-3000:]
        total, *terms = (float(g) for g in m.groups())
        assert abs(total - sum(terms)) < 1e-3 * total
        assert 'PEFT auxiliary losses are added to the loss dict' in log
        assert any('.colin1.project1.param_dict.A' in k for k in saved_backbone(saved))

    train_then_test(family, 'voc', tmp_path, tiny_swin, check_train=check_train)


def test_conv_adapter_resnet_trains_and_tests(tmp_path, tiny_resnet):
    family = dict(FAMILIES['coco'], config='conv_adapter/mask-rcnn_r50-conv-adapter_fpn_1x_coco.py',
                  expect_log=r'ResNet-50\(ConvAdapter\): [\d,]+ trainable of [\d,]+ parameters',
                  size_factor=0.2, extra=dict(FAST, **{'model.test_cfg.rcnn.score_thr': 0.0}))

    def check_train(log: str, saved: str) -> None:
        assert 'loss_orth' not in log
        trained = saved_backbone(saved)
        pretrained = load_checkpoint_file(tiny_resnet)['model']
        assert any('.tuning_module.' in k for k in trained)
        for k, v in trained.items():  # the frozen ResNet is the pretrained file's
            if '.tuning_module.' not in k:
                assert torch.equal(v, pretrained[k]), k

    train_then_test(family, 'coco', tmp_path, tiny_resnet, check_train=check_train)
