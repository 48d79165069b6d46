"""The foundation-ViT loaders on small fake files in each official layout (DINOv2 hub, OpenAI
CLIP, SAM) and mmpretrain's, written from a tiny model by the inverse of each key map; and their
refusal of files that do not fit."""
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmpeft.checkpoint import CheckpointMismatchError, detect_foundation_layout
from mmpeft.checkpoint.layouts.vit import rename_keys
from mmpeft.models.backbones import PEFTSAMViT, PEFTViT

from e2e_utils import _MMPRETRAIN_TO_DINOV2, REPO, random_weights, write_tiny_swin_checkpoint

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
DINO = dict(arch=ARCH, patch_size=14, img_size=56, layer_scale_init_value=1e-5,
            interpolate_offset=0.1, out_indices=(1, ))
CLIP = dict(arch=ARCH, patch_size=16, img_size=64, pre_norm=True,
            norm_cfg=dict(type='LN', eps=1e-5),
            layer_cfgs=dict(act_cfg=dict(type='mmpretrain.QuickGELU')), out_indices=(1, ))
SAM = dict(arch=dict(ARCH, global_attn_indexes=[1]), patch_size=16, img_size=64, window_size=2,
           out_channels=16, out_indices=(1, ))

_TO_CLIP = (
    (r'^patch_embed\.projection\.weight$', 'conv1.weight'),
    (r'^pre_norm\.', 'ln_pre.'),
    (r'^layers\.(\d+)\.ln([12])\.', r'transformer.resblocks.\1.ln_\2.'),
    (r'^layers\.(\d+)\.attn\.qkv\.(weight|bias)$', r'transformer.resblocks.\1.attn.in_proj_\2'),
    (r'^layers\.(\d+)\.attn\.proj\.', r'transformer.resblocks.\1.attn.out_proj.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'transformer.resblocks.\1.mlp.c_fc.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'transformer.resblocks.\1.mlp.c_proj.'),
    (r'^ln1\.', 'ln_post.'),
)
_TO_SAM = (
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln([12])\.', r'blocks.\1.norm\2.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.lin1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.lin2.'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
    (r'^channel_reduction\.(\d)\.', r'neck.\1.'),
)


def randomized(cls, seed: int = 0, **cfg):
    return random_weights(cls(**cfg), seed)


def dinov2_file(model: PEFTViT) -> dict:
    state = rename_keys(model.state_dict(), _MMPRETRAIN_TO_DINOV2)
    state['mask_token'] = torch.zeros(1, model.embed_dims)
    return state


def clip_file(model: PEFTViT) -> dict:
    visual = rename_keys(model.state_dict(), _TO_CLIP)
    visual['class_embedding'] = visual.pop('cls_token').reshape(-1)
    visual['positional_embedding'] = visual.pop('pos_embed')[0]
    visual['proj'] = torch.randn(model.embed_dims, 24)
    state = {f'visual.{k}': v for k, v in visual.items()}
    # the text tower: its own transformer and positional embedding, unused
    state.update({'positional_embedding': torch.randn(77, 24),
                  'transformer.resblocks.0.attn.in_proj_weight': torch.randn(72, 24),
                  'token_embedding.weight': torch.randn(100, 24), 'ln_final.weight':
                  torch.ones(24), 'text_projection': torch.randn(24, 24),
                  'logit_scale': torch.tensor(4.6), 'input_resolution': torch.tensor(64)})
    return state


def sam_file(model: PEFTSAMViT) -> dict:
    state = {f'image_encoder.{k}': v for k, v in rename_keys(model.state_dict(), _TO_SAM).items()}
    state['prompt_encoder.pe_layer.positional_encoding_gaussian_matrix'] = torch.randn(2, 8)
    state['mask_decoder.iou_token.weight'] = torch.randn(1, 8)
    return state


def load(cls, path, **cfg):
    model = cls(init_cfg=dict(type='Pretrained', checkpoint=str(path)), **cfg)
    model.init_weights()
    return model.eval()


def assert_same(a: nn.Module, b: nn.Module, shape=(1, 3, 64, 64)) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    img = torch.randn(*shape)
    with torch.no_grad():
        torch.testing.assert_close(a(img)[0], b(img)[0])


# ------------------------------------------------------------------------------ layouts
@pytest.mark.parametrize('registers', [0, 4])
def test_dinov2_hub_file(tmp_path, registers):
    cfg = dict(DINO, num_register_tokens=registers, method=dict(type='Mona'))
    src = randomized(PEFTViT, **cfg)
    state = dinov2_file(src)
    assert detect_foundation_layout(state) == 'dinov2'
    assert ('register_tokens' in state) == bool(registers)
    mona = [k for k in state if '.mona' in k]
    torch.save({k: v for k, v in state.items() if k not in mona}, tmp_path / 'dinov2.pth')
    model = load(PEFTViT, tmp_path / 'dinov2.pth', **cfg)
    report = model.pretrained_report
    assert report.notes['layout'] == 'dinov2' and report.notes['unused'] == ['mask_token']
    assert report.matched_ratio == 1.0
    for k, v in model.state_dict().items():
        if '.mona' not in k:
            assert torch.equal(v, src.state_dict()[k]), k
    # a file of a register model refuses a model without registers, and the reverse
    if registers:
        with pytest.raises(CheckpointMismatchError, match='num_register_tokens=4'):
            load(PEFTViT, tmp_path / 'dinov2.pth', **DINO)
    else:
        with pytest.raises(CheckpointMismatchError, match='register_tokens'):
            load(PEFTViT, tmp_path / 'dinov2.pth', **dict(DINO, num_register_tokens=4))


def test_position_table_of_another_grid_is_interpolated_as_dinov2(tmp_path):
    big = randomized(PEFTViT, **dict(DINO, img_size=84))  # a 6x6 table
    torch.save(dinov2_file(big), tmp_path / 'dinov2_6x6.pth')
    model = load(PEFTViT, tmp_path / 'dinov2_6x6.pth', **DINO)  # a 4x4 table
    pos = big.pos_embed.detach()
    grid = F.interpolate(pos[:, 1:].reshape(1, 6, 6, -1).permute(0, 3, 1, 2),
                         scale_factor=(4.1 / 6, 4.1 / 6), mode='bicubic')
    want = torch.cat([pos[:, :1], grid.flatten(2).transpose(1, 2)], dim=1)
    torch.testing.assert_close(model.pos_embed.detach(), want)


def test_openai_clip_file_and_mmpretrain_clip(tmp_path):
    src = randomized(PEFTViT, **CLIP)
    state = clip_file(src)
    assert detect_foundation_layout(state) == 'openai-clip'
    torch.save(state, tmp_path / 'clip.pth')
    model = load(PEFTViT, tmp_path / 'clip.pth', **CLIP)
    assert model.pretrained_report.notes['layout'] == 'openai-clip'
    unused = model.pretrained_report.notes['unused']
    assert 'visual_proj.proj' in unused and 'text.positional_embedding' in unused
    assert_same(src, model)
    # mmpretrain's converted CLIP: its own names under visual., its text tower beside
    mmpre = {f'visual.{k}': v for k, v in src.state_dict().items()}
    mmpre.update({'visual_proj.proj': torch.randn(32, 24), 'logit_scale': torch.tensor(1.)})
    torch.save({'state_dict': mmpre}, tmp_path / 'mmpretrain_clip.pth')
    model = load(PEFTViT, tmp_path / 'mmpretrain_clip.pth', **CLIP)
    assert model.pretrained_report.notes['layout'] == 'mmpretrain-clip'
    assert_same(src, model)
    # without pre_norm, CLIP's ln_pre has nowhere to go: refused
    with pytest.raises(CheckpointMismatchError):
        load(PEFTViT, tmp_path / 'clip.pth', **dict(CLIP, pre_norm=False))


class _Holder(nn.Module):

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def torchscript_archive(state: dict, path) -> None:
    """A saved ``torch.jit.script`` module holding ``state`` (as OpenAI's CLIP ``.pt``)."""
    root = _Holder()
    for key, value in state.items():
        *path_parts, leaf = key.split('.')
        module = root
        for part in path_parts:
            if not hasattr(module, part):
                module.add_module(part, _Holder())
            module = getattr(module, part)
        module.register_buffer(leaf, value.clone())
    torch.jit.save(torch.jit.script(root), str(path))


def test_torchscript_clip_is_refused_and_converted(tmp_path):
    src = randomized(PEFTViT, **CLIP)
    torchscript_archive(clip_file(src), tmp_path / 'ViT-tiny.pt')
    with pytest.raises(CheckpointMismatchError, match='clip2mmpeft.py'):
        load(PEFTViT, tmp_path / 'ViT-tiny.pt', **CLIP)
    out = subprocess.run(
        [sys.executable, 'tools/model_converters/clip2mmpeft.py', str(tmp_path / 'ViT-tiny.pt'),
         str(tmp_path / 'clip.pth'), '--vision-only'], cwd=REPO, capture_output=True,
        text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'trusting it' in out.stderr
    assert all(k.startswith('visual.') for k in torch.load(tmp_path / 'clip.pth'))
    assert_same(src, load(PEFTViT, tmp_path / 'clip.pth', **CLIP))


def test_sam_file(tmp_path):
    src = randomized(PEFTSAMViT, **SAM)
    state = sam_file(src)
    assert detect_foundation_layout(state) == 'sam'
    torch.save(state, tmp_path / 'sam.pth')
    model = load(PEFTSAMViT, tmp_path / 'sam.pth', **SAM)
    assert sorted({k.split('.')[0] for k in model.pretrained_report.notes['unused']}) == [
        'mask_decoder', 'prompt_encoder']
    assert_same(src, model, shape=(1, 3, 80, 48))
    # without SAM's neck (out_channels=0) its weights are unused, not an error
    plain = load(PEFTSAMViT, tmp_path / 'sam.pth', **dict(SAM, out_channels=0))
    assert any(k.startswith('channel_reduction.') for k in plain.pretrained_report.notes['unused'])
    # a timm / MAE ViT (class token + flat table) initialises the SAM layout without rel-pos
    vit = randomized(PEFTViT, **dict(DINO, patch_size=16, img_size=64,
                                     layer_scale_init_value=0., final_norm=False))
    torch.save(rename_keys(vit.state_dict(), _MMPRETRAIN_TO_DINOV2), tmp_path / 'timm.pth')
    sam = load(PEFTSAMViT, tmp_path / 'timm.pth',
               **dict(SAM, use_rel_pos=False, out_channels=0))
    assert sam.pretrained_report.notes['layout'] == 'timm'
    torch.testing.assert_close(sam.pos_embed.detach().reshape(1, 16, -1),
                               vit.pos_embed.detach()[:, 1:])


def test_mmpretrain_layout_and_mmpeft_checkpoints(tmp_path):
    """Whole-detector files (``backbone.`` prefix, mmpretrain names) load, the method's modules
    with them; a file of another method is refused."""
    src = randomized(PEFTViT, **dict(DINO, method=dict(type='Mona')))
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()}},
               tmp_path / 'det.pth')
    model = load(PEFTViT, tmp_path / 'det.pth', **dict(DINO, method=dict(type='Mona')))
    assert model.pretrained_report.notes['layout'] == 'mmpretrain'
    assert_same(src, model)
    with pytest.raises(CheckpointMismatchError, match='another method'):
        load(PEFTViT, tmp_path / 'det.pth', **dict(DINO, method=dict(type='Adapter')))


def test_wrong_files_are_refused(tmp_path):
    write_tiny_swin_checkpoint(str(tmp_path / 'swin.pth'))
    with pytest.raises(CheckpointMismatchError, match='no foundation ViT weights'):
        load(PEFTViT, tmp_path / 'swin.pth', **DINO)
    wide = randomized(PEFTViT, **dict(DINO, arch=dict(ARCH, embed_dims=48, num_heads=3)))
    torch.save(dinov2_file(wide), tmp_path / 'wide.pth')
    with pytest.raises(CheckpointMismatchError, match='wrong shape'):
        load(PEFTViT, tmp_path / 'wide.pth', **DINO)
    torch.save(dinov2_file(randomized(PEFTViT, **DINO)), tmp_path / 'shallow.pth')
    with pytest.raises(CheckpointMismatchError, match=r'only .* of the pretrained weights'):
        load(PEFTViT, tmp_path / 'shallow.pth',
             **dict(DINO, arch=dict(ARCH, num_layers=6), out_indices=(5, )))
    # a few missing weights are named; allow_missing accepts them
    state = dinov2_file(randomized(PEFTViT, **DINO))
    del state['blocks.1.ls2.gamma']
    torch.save(state, tmp_path / 'partial.pth')
    with pytest.raises(CheckpointMismatchError, match='ffn.gamma2.weight'):
        load(PEFTViT, tmp_path / 'partial.pth', **DINO)
    model = PEFTViT(init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'partial.pth'),
                                  allow_missing=True), **DINO)
    model.init_weights()
    assert model.pretrained_report.missing == ['layers.1.ffn.gamma2.weight']
