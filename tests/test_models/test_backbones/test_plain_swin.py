"""PlainSwinTransformer: fully trainable Swin that loads checkpoints like the Mona backbone."""
import pytest
import torch

import mmpeft  # noqa: F401
from mmpeft.checkpoint import CheckpointMismatchError
from mmpeft.models.backbones import MonaSwinTransformer, PlainSwinTransformer

TINY = dict(embed_dims=16, depths=(1, 1, 2, 1), num_heads=(1, 1, 2, 2), window_size=7,
            drop_path_rate=0.)


def test_all_trainable_and_loads_mona_training_checkpoint(tmp_path):
    torch.manual_seed(0)
    mona = MonaSwinTransformer(**TINY)
    path = str(tmp_path / 'mona.pth')
    torch.save({'state_dict': {'backbone.' + k: v for k, v in mona.state_dict().items()}}, path)

    plain = PlainSwinTransformer(**TINY, init_cfg=dict(type='Pretrained', checkpoint=path))
    assert all(p.requires_grad for p in plain.parameters())
    plain.init_weights()
    assert all(p.requires_grad for p in plain.parameters())
    own = plain.state_dict()
    src = mona.state_dict()
    swin_keys = [k for k in own if not k.startswith('norm') and 'relative_position_index' not in k]
    assert swin_keys and all(torch.equal(own[k], src[k]) for k in swin_keys)


def test_refuses_a_checkpoint_of_another_architecture(tmp_path):
    path = str(tmp_path / 'other.pth')
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(64, 3, 7, 7)}}, path)
    plain = PlainSwinTransformer(**TINY, init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(CheckpointMismatchError, match='other.pth'):
        plain.init_weights()
