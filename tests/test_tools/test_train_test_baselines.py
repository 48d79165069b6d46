"""End to end through tools/: the Mona paper's PEFT baselines, one task each (Adapter on VOC,
AdaptFormer on ADE20K, LoRA on DOTA, LoRand on COCO), their real configs shrunk to a tiny Swin on
synthetic data, trained a few iterations and tested; and LoRA under 2-process ``dist_train.sh``.

The run must log the backbone's trainable count, leave the frozen Swin weights exactly as loaded
(for LoRA: the qkv weight is saved unmerged) and save the method's parameters."""
import os.path as osp
import sys

import pytest
import torch

from mmpeft.compat import load_checkpoint_file
from mmpeft.testing import make_dataset

from e2e_utils import (
    FAMILIES,
    REPO,
    free_port,
    run_tool,
    shrink_config,
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
    end with the same LoRA weights, the frozen qkv weight untouched."""
    family = FAMILIES['voc']
    root = str(tmp_path / 'data')
    make_dataset('voc', root, **family['data'])
    cfg = shrink_config(config_of('lora', 'voc'), osp.join(root, 'VOCdevkit'), tiny_ckpt,
                        str(tmp_path / 'cfg.py'), {'train_cfg.max_epochs': 1,
                                                   'train_cfg.val_interval': 10},
                        family['size_factor'])
    work = str(tmp_path / 'work')
    out = run_tool(['bash', osp.join(REPO, 'tools', 'dist_train.sh'), cfg, '2', '--work-dir',
                    work], env=dict(PYTHON=sys.executable, PORT=str(free_port())))
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    assert 'LoRASwinTransformer: ' in log and 'Distributed launcher: pytorch' in log
    state = load_checkpoint_file(osp.join(work, 'epoch_1.pth'))['state_dict']
    source = torch.load(tiny_ckpt, weights_only=True)['model']
    assert torch.equal(state['backbone.stages.1.blocks.0.attn.w_msa.qkv.weight'],
                       source['layers.1.blocks.0.attn.qkv.weight'])
    assert state['backbone.stages.1.blocks.0.attn.w_msa.qkv.lora_B'].abs().sum() > 0
