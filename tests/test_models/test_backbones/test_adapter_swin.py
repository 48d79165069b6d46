"""AdapterSwinTransformer and AdaptFormerSwinTransformer: the reference counts, the reference
function (a checkpoint of the official Mona repo's code loads and gives its features), freezing,
gradients, round trip, and refusal of another method's checkpoint."""
import pytest
import torch
from peft_swin_cases import (
    SWIN_B,
    SWIN_L,
    assert_gradients_reach_every_trainable_tensor,
    assert_matches_reference,
    assert_state_dict_round_trip,
    reference_checkpoint,
)

import mmpeft  # noqa: F401
from mmpeft.checkpoint import CheckpointMismatchError
from mmpeft.models.backbones import (
    AdapterSwinTransformer,
    AdaptFormerSwinTransformer,
    MonaSwinTransformer,
    PlainSwinTransformer,
)
from mmpeft.models.peft import Adapter, AdaptFormer
from mmpeft.models.utils import count_parameters

from _swin_reference import TINY, randomize_

CLASSES = {'adapter': (AdapterSwinTransformer, Adapter, 'adapter_cfg'),
           'adaptformer': (AdaptFormerSwinTransformer, AdaptFormer, 'adaptformer_cfg')}


def tiny(method: str, **kw):
    cls = CLASSES[method][0]
    return cls(**dict(TINY, drop_path_rate=0.0), **kw)


@pytest.mark.parametrize('method,arch,expected', [
    ('adapter', SWIN_B, 3_107_328), ('adapter', SWIN_L, 4_659_456),
    ('adaptformer', SWIN_B, 1_553_664), ('adaptformer', SWIN_L, 2_329_728)])
def test_trainable_counts_are_the_references(method, arch, expected):
    cls, module, _ = CLASSES[method]
    model = cls(**arch)
    counts = count_parameters(model)
    assert counts['trainable'] == expected
    assert counts['total'] - expected == 86_745_016 if arch is SWIN_B else True
    in_modules = sum(p.numel() for m in model.modules() if isinstance(m, module)
                     for p in m.parameters())
    assert in_modules == expected
    sigma_c = sum(d * arch['embed_dims'] * 2**i for i, d in enumerate(arch['depths']))
    formula = 258 * sigma_c + 3072 if method == 'adapter' else 129 * sigma_c + 1536
    assert formula == expected


@pytest.mark.parametrize('method', sorted(CLASSES))
def test_only_the_adapters_train(method):
    model = tiny(method)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    expected = {'adapter': ('.adapter1.', '.adapter2.'), 'adaptformer': ('.adapter.', )}[method]
    assert names and all(any(e in n for e in expected) for n in names)
    assert names == {n for n, _ in model.named_parameters() if any(e in n for e in expected)}
    model.init_weights()
    model.train()
    assert {n for n, p in model.named_parameters() if p.requires_grad} == names


@pytest.mark.parametrize('method', sorted(CLASSES))
def test_official_checkpoint_gives_the_reference_features(method, tmp_path):
    assert_matches_reference(lambda **kw: tiny(method, **kw), method, tmp_path)


@pytest.mark.parametrize('method', sorted(CLASSES))
def test_gradients_and_round_trip(method):
    model = tiny(method)
    randomize_(model, seed=4)
    assert_gradients_reach_every_trainable_tensor(model)
    assert_state_dict_round_trip(lambda: tiny(method))


@pytest.mark.parametrize('reference', ['mona', 'star'])
def test_near_identity_at_the_references_init(reference):
    """Neither reference zero-initialises: the official trunc-normal (std 0.02) init starts close
    to the frozen Swin, STAR's PyTorch default init further away; neither is the identity."""
    torch.manual_seed(0)
    plain = PlainSwinTransformer(**dict(TINY, drop_path_rate=0.0))
    randomize_(plain, seed=2)
    plain.eval()
    x = torch.randn(1, 3, 64, 64)
    rel = {}
    for method in sorted(CLASSES):
        model = tiny(method, **{CLASSES[method][2]: dict(reference=reference)}).eval()
        model.load_state_dict(plain.state_dict(), strict=False)
        with torch.no_grad():
            a, b = model(x)[-1], plain(x)[-1]
        rel[method] = ((a - b).norm() / b.norm()).item()
        assert rel[method] > 0
    if reference == 'mona':
        assert max(rel.values()) < 0.2, rel


def test_another_methods_checkpoint_is_refused(tmp_path):
    """An official Mona checkpoint names its modules my_module_1/2 too: loaded into an Adapter
    backbone, its modules do not fit, and loading stops."""
    path = str(tmp_path / 'mona.pth')
    reference_checkpoint('mona', path)
    with pytest.raises(CheckpointMismatchError, match='does not fit|do not fit'):
        tiny('adapter', init_cfg=dict(type='Pretrained', checkpoint=path)).init_weights()
    # while the method's own official checkpoint loads
    adapter = str(tmp_path / 'adapter.pth')
    reference_checkpoint('adapter', adapter)
    tiny('adapter', init_cfg=dict(type='Pretrained', checkpoint=adapter)).init_weights()
    mona = MonaSwinTransformer(**dict(TINY, drop_path_rate=0.0),
                               init_cfg=dict(type='Pretrained', checkpoint=adapter))
    with pytest.raises(CheckpointMismatchError, match='do not fit'):
        mona.init_weights()


def test_star_reference_moves_the_adapter_after_the_drop_path():
    assert tiny('adapter').stages[0].blocks[0].peft_sites == dict(attn_out='adapter1',
                                                                  ffn_out='adapter2')
    star = tiny('adapter', adapter_cfg=dict(reference='star'))
    assert star.stages[0].blocks[0].peft_sites == dict(attn_out_dropped='adapter1',
                                                       ffn_out_dropped='adapter2')
    assert tiny('adaptformer').stages[0].blocks[0].peft_sites == dict(ffn_parallel='adapter')
    with pytest.raises(ValueError, match="reference must be one of"):
        tiny('adapter', adapter_cfg=dict(reference='timm'))


def test_converter_names_the_official_modules_by_method(tmp_path):
    """tools/model_converters/mona2mmpeft.py --method adapter: my_module_k -> adapter{k}; the
    converted file loads into the backbone and gives the reference's features."""
    import os.path as osp
    import runpy

    from e2e_utils import REPO
    main = runpy.run_path(osp.join(REPO, 'tools', 'model_converters', 'mona2mmpeft.py'))['main']
    src, dst = str(tmp_path / 'official.pth'), str(tmp_path / 'converted.pth')
    ref = reference_checkpoint('adaptformer', src)
    assert main([src, dst, '--method', 'adaptformer']) == 0
    state = torch.load(dst, weights_only=True)
    assert 'backbone.stages.0.blocks.0.adapter.project1.weight' in state
    assert not any('my_module' in k for k in state)
    model = tiny('adaptformer', init_cfg=dict(type='Pretrained', checkpoint=dst))
    model.init_weights()
    model.double().eval()
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(model(x), ref(x)):
            torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
