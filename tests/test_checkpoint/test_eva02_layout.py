"""EVA-02 files into PEFTEVA02: fake files in EVA-02's own layout (B/L: separate q/k/v and SwiGLU
halves with the sub-LN; Ti/S: packed), written from a tiny model by the inverse key map
(``e2e_utils.eva02_official_state``), and mmpretrain's converted layout load to the same model;
files of the other families, and EVA-02 files into them, are refused by name."""
import pytest
import torch

from mmpeft.checkpoint import CheckpointMismatchError, detect_foundation_layout
from mmpeft.checkpoint.layouts.vit import rename_keys
from mmpeft.models.backbones import PEFTEVA02, PEFTSAMViT, PEFTViT

from e2e_utils import _MMPRETRAIN_TO_DINOV2, eva02_official_state, random_weights

ARCH = dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128)
EVA = dict(arch=ARCH, patch_size=14, img_size=56, sub_ln=True,
           norm_cfg=dict(type='LN', eps=1e-6), final_norm=False, out_indices=(1, ))
MONA = dict(type='Mona')


def source(seed: int = 0, **cfg) -> PEFTEVA02:
    """A random PEFTEVA02 with Mona, the k rows of its q/k/v bias zero (EVA-02 has no k bias)."""
    model = random_weights(PEFTEVA02(**dict(EVA, method=MONA, **cfg)), seed)
    with torch.no_grad():
        for layer in model.layers:
            layer.attn.qkv.bias[64:128] = 0
    return model


def load(path, cls=PEFTEVA02, **cfg):
    model = cls(init_cfg=dict(type='Pretrained', checkpoint=str(path)), **cfg)
    model.init_weights()
    return model.eval()


def assert_same_outputs(src: PEFTEVA02, model: PEFTEVA02) -> None:
    """Every ViT weight as the source's; with the source's Mona, the same maps."""
    ours, theirs = model.state_dict(), src.state_dict()
    assert ours.keys() == theirs.keys()
    for k in ours:
        if '.mona' not in k:
            assert torch.equal(ours[k], theirs[k]), k
    model.load_state_dict({k: v for k, v in theirs.items() if '.mona' in k}, strict=False)
    img = torch.randn(1, 3, 70, 98)
    with torch.no_grad():
        torch.testing.assert_close(model(img)[0], src(img)[0])


@pytest.mark.parametrize('packed', [False, True], ids=['B/L', 'Ti/S'])
def test_official_file(tmp_path, packed):
    """EVA-02's files (DeepSpeed's ``module`` wrapper) load exactly: B/L's ``q_proj/k_proj/v_proj``
    and ``w1/w2`` + ``ffn_ln``, Ti/S's packed ``qkv`` and ``w12`` without sub-LN; the
    masked-modelling head, mask token, rotary buffers and (without final_norm) the final norm
    are unused."""
    cfg = dict(sub_ln=not packed)
    src = source(**cfg)
    state = eva02_official_state(src, packed=packed)
    assert ('blocks.0.attn.q_proj.weight' in state) != packed
    assert ('blocks.0.mlp.ffn_ln.weight' in state) != packed
    assert 'blocks.0.attn.k_bias' not in state and 'mask_token' in state
    assert detect_foundation_layout(state) == 'eva02'
    torch.save({'module': state, 'epoch': 300}, tmp_path / 'eva02.pt')
    model = load(tmp_path / 'eva02.pt', **dict(EVA, method=MONA, **cfg))
    report = model.pretrained_report
    assert report.notes['layout'] == 'eva02' and report.matched_ratio == 1.0
    unused = report.notes['unused']
    assert sorted({k.split('.')[0] for k in unused}) == [
        'layers', 'lm_head', 'ln1', 'mask_token', 'rope']
    assert all(k.endswith(('freqs_cos', 'freqs_sin')) for k in unused if k.startswith('layers'))
    assert torch.all(model.layers[1].attn.qkv.bias[64:128] == 0)
    assert_same_outputs(src, model)
    # with final_norm, EVA-02's final norm is ln1
    normed = load(tmp_path / 'eva02.pt', **dict(EVA, final_norm=True, **cfg))
    assert torch.equal(normed.ln1.weight, state['norm.weight'])


def test_mmpretrain_layout_and_mmpeft_checkpoints(tmp_path):
    """mmpretrain's converted EVA-02 (``backbone.`` prefix, its rope buffers, classifier) and
    mmpeft's whole-detector files (with the method's modules) load."""
    src = source()
    vit = {k: v for k, v in src.state_dict().items() if '.mona' not in k}
    converted = {f'backbone.{k}': v for k, v in vit.items()}
    converted.update({'backbone.rope.freqs_cos': torch.ones(16, 16),
                      'backbone.layers.0.attn.rope.freqs_sin': torch.zeros(16, 16),
                      'backbone.ln2.weight': torch.ones(64), 'head.fc.weight': torch.ones(9, 64)})
    torch.save(converted, tmp_path / 'mmpretrain.pth')
    model = load(tmp_path / 'mmpretrain.pth', **dict(EVA, method=MONA))
    assert model.pretrained_report.notes['layout'] == 'mmpretrain-eva02'
    assert_same_outputs(src, model)
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()}},
               tmp_path / 'det.pth')
    model = load(tmp_path / 'det.pth', **dict(EVA, method=MONA))
    assert model.pretrained_report.notes['layout'] == 'mmpretrain-eva02'
    assert_same_outputs(src, model)


def test_position_table_of_another_grid_is_resized(tmp_path):
    big = source(img_size=84)  # a 6x6 table into a 4x4 one: bicubic, as mmpretrain / ViTDet
    torch.save(eva02_official_state(big), tmp_path / 'eva02_6x6.pt')
    model = load(tmp_path / 'eva02_6x6.pt', **EVA)
    grid = big.pos_embed.detach()[:, 1:].reshape(1, 6, 6, -1).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(grid, size=(4, 4), mode='bicubic')
    torch.testing.assert_close(model.pos_embed.detach()[:, 1:], grid.flatten(2).transpose(1, 2))


def test_wrong_files_are_refused(tmp_path):
    # DINOv2 and SAM files into EVA-02, and an EVA-02 file into PEFTViT / PEFTSAMViT: by name
    dino = random_weights(PEFTViT(arch=ARCH, patch_size=14, img_size=56,
                                  layer_scale_init_value=1e-5, out_indices=(1, )))
    state = rename_keys(dino.state_dict(), _MMPRETRAIN_TO_DINOV2)
    torch.save(dict(state, mask_token=torch.zeros(1, 64)), tmp_path / 'dinov2.pth')
    with pytest.raises(CheckpointMismatchError, match='"dinov2" checkpoint, which PEFTEVA02'):
        load(tmp_path / 'dinov2.pth', **EVA)
    torch.save({'image_encoder.patch_embed.proj.weight': torch.ones(64, 3, 16, 16),
                'image_encoder.blocks.0.mlp.lin1.weight': torch.ones(8, 64)}, tmp_path / 'sam.pth')
    with pytest.raises(CheckpointMismatchError, match='"sam" checkpoint, which PEFTEVA02'):
        load(tmp_path / 'sam.pth', **EVA)
    torch.save(eva02_official_state(source()), tmp_path / 'eva02.pt')
    with pytest.raises(CheckpointMismatchError, match='"eva02" checkpoint.*for PEFTEVA02'):
        load(tmp_path / 'eva02.pt', PEFTViT, arch=ARCH, patch_size=14, img_size=56)
    with pytest.raises(CheckpointMismatchError, match='"eva02" checkpoint, which PEFTSAMViT'):
        load(tmp_path / 'eva02.pt', PEFTSAMViT, arch=dict(ARCH, global_attn_indexes=[1]),
             img_size=64, window_size=2)
    # B/L's sub-LN into a model without one, and Ti/S's file into one with it
    with pytest.raises(CheckpointMismatchError, match='sub_ln=True'):
        load(tmp_path / 'eva02.pt', **dict(EVA, sub_ln=False))
    torch.save(eva02_official_state(source(sub_ln=False), packed=True), tmp_path / 'eva02_s.pt')
    with pytest.raises(CheckpointMismatchError, match='mlp.norm.weight'):
        load(tmp_path / 'eva02_s.pt', **EVA)
    # an incomplete block, another width
    state = eva02_official_state(source())
    del state['blocks.1.attn.k_proj.weight']
    torch.save(state, tmp_path / 'partial.pt')
    with pytest.raises(CheckpointMismatchError, match='blocks.1 .* not attn.k_proj.weight'):
        load(tmp_path / 'partial.pt', **EVA)
    wide = random_weights(PEFTEVA02(**dict(EVA, arch=dict(ARCH, embed_dims=96, num_heads=6))))
    torch.save(eva02_official_state(wide), tmp_path / 'wide.pt')
    with pytest.raises(CheckpointMismatchError, match='wrong shape'):
        load(tmp_path / 'wide.pt', **EVA)
