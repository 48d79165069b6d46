"""End to end through tools/: the Mona paper's PEFT baselines, one task each (Adapter on VOC,
AdaptFormer on ADE20K, LoRA on DOTA, LoRand on COCO), their real configs shrunk to a tiny Swin on
synthetic data, trained a few iterations and tested; and LoRA under 2-process ``dist_train.sh``.

The run must log the backbone's trainable count, leave the frozen Swin weights exactly as loaded
(for LoRA: the qkv weight is saved unmerged) and save the method's parameters."""
import os.path as osp

import pytest
import torch

from mmpeft.compat import load_checkpoint_file

from e2e_utils import (
    FAMILIES,
    dist_train_voc,
    train_then_test,
    write_tiny_swin_checkpoint,
)

CASES = {
    'adapter': ('voc', 'AdapterSwinTransformer', '.adapter1.'),
    'adaptformer': ('ade20k', 'AdaptFormerSwinTransformer', '.adapter.'),
    'lora': ('dota', 'LoRASwinTransformer', '.qkv.lora_B'),
    'lorand': ('coco', 'LoRandSwinTransformer', '.lorand2.'),
}


def config_of(method: str, fmt: str) -> str:
    name = osp.basename(FAMILIES[fmt]['config']).replace('-mona_', f'-{method}_')
    return f'mona/{name}'


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    return write_tiny_swin_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'swin_tiny.pth'))


@pytest.mark.parametrize('method', sorted(CASES))
def test_baseline_config_trains_and_tests(method, tmp_path, tiny_ckpt):
    fmt, backbone, key = CASES[method]
    family = dict(FAMILIES[fmt], config=config_of(method, fmt),
                  expect_log=rf'{backbone}: [\d,]+ trainable of [\d,]+ parameters')

    def check_train(log: str, saved: str) -> None:
        state = load_checkpoint_file(saved)['state_dict']
        source = torch.load(tiny_ckpt, weights_only=True)['model']
        assert torch.equal(state['backbone.stages.0.blocks.0.attn.w_msa.qkv.weight'],
                           source['layers.0.blocks.0.attn.qkv.weight'])
        assert any(k.startswith('backbone.') and key in k for k in state), key

    train_then_test(family, fmt, tmp_path, tiny_ckpt, check_train)


def test_dist_train_two_cpu_processes_on_a_lora_config(tmp_path, tiny_ckpt):
    """``tools/dist_train.sh CONFIG 2`` (torchrun, gloo on CPU) on the VOC LoRA config: both ranks
    train it, the frozen qkv weight untouched, the LoRA weights trained."""
    out = dist_train_voc(config_of('lora', 'voc'), tmp_path, tiny_ckpt)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    assert 'LoRASwinTransformer: ' in log and 'Distributed launcher: pytorch' in log
    state = load_checkpoint_file(str(tmp_path / 'work' / 'epoch_1.pth'))['state_dict']
    source = torch.load(tiny_ckpt, weights_only=True)['model']
    assert torch.equal(state['backbone.stages.1.blocks.0.attn.w_msa.qkv.weight'],
                       source['layers.1.blocks.0.attn.qkv.weight'])
    assert state['backbone.stages.1.blocks.0.attn.w_msa.qkv.lora_B'].abs().sum() > 0
