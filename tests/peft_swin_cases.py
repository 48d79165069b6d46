"""Shared checks of the PEFT Swin backbones against the reference forward (tests/_swin_reference):
a checkpoint written by the reference layout loads into the mmpeft backbone, which then computes the
reference's features; counts; gradients; state-dict round trip."""
from typing import Callable, Dict

import torch
from mmdet.models.backbones.swin import swin_converter

from _swin_reference import TINY, RefMonaSwin, prefixed, randomize_

SWIN_B = dict(embed_dims=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), window_size=7)
SWIN_L = dict(SWIN_B, embed_dims=192, num_heads=(6, 12, 24, 48))


def reference_checkpoint(method: str, path: str, seed: int = 3) -> RefMonaSwin:
    """A randomised reference model of ``method`` saved to ``path`` as its codebase saves it: the
    official Mona repo's detector checkpoints (``backbone.``-prefixed Microsoft keys) for its
    methods, an mmdet-layout ``backbone.`` file for STAR-MMRotate's LoRand."""
    torch.manual_seed(0)
    ref = RefMonaSwin(**TINY, method=method).double()
    randomize_(ref, seed=seed, scale=0.3)
    ref.eval()
    state = ref.state_dict()
    if method == 'lorand':  # STAR-MMRotate: mmdet's Swin layout
        state = swin_converter(state)
    else:
        state = prefixed(state, 'backbone.')
    torch.save({'state_dict': state, 'meta': {}}, path)
    return ref


def assert_matches_reference(build: Callable[..., torch.nn.Module], method: str, tmp_path):
    """The backbone built by ``build(init_cfg=...)`` from a reference checkpoint computes the
    reference's features (float64), and only the method's parameters train."""
    path = str(tmp_path / f'{method}.pth')
    ref = reference_checkpoint(method, path)
    model = build(init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    model.double().eval()
    x = torch.randn(2, 3, 61, 83, dtype=torch.float64)
    with torch.no_grad():
        ref_outs, outs = ref(x), model(x)
    assert len(outs) == len(ref_outs) == 4
    for a, b in zip(outs, ref_outs):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
    # and the method matters: zeroing its trained parameters changes the features
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.zero_()
        changed = model(x)
    assert any(not torch.allclose(a, b) for a, b in zip(changed, ref_outs))


def trainable(model: torch.nn.Module) -> Dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def assert_gradients_reach_every_trainable_tensor(model: torch.nn.Module) -> None:
    model.train()
    x = torch.randn(1, 3, 64, 64)
    sum(o.square().mean() for o in model(x)).backward()
    params = trainable(model)
    assert params
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, n
        else:
            assert p.grad is None, n


def assert_state_dict_round_trip(build: Callable[..., torch.nn.Module]) -> None:
    torch.manual_seed(1)
    a = build()
    randomize_(a, seed=7)
    b = build()
    b.load_state_dict(a.state_dict(), strict=True)
    a.eval()
    b.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        for u, v in zip(a(x), b(x)):
            assert torch.equal(u, v)
    assert set(trainable(a)) == set(trainable(b))
