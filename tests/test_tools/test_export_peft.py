"""tools/model_converters/export_peft.py: trainable-only or full checkpoint + config -> standalone
checkpoint + config; ``--merge`` folds LoRA into the frozen weights and writes the upstream
backbone (mmdet's SwinTransformer, mmpretrain's VisionTransformer), whose outputs equal the
unexported model's within 1e-5 and which runs without mmpeft; Mona, VPT and HST are refused for
``--merge`` and exported unmerged."""
import importlib.util
import os.path as osp
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import mmpeft  # noqa: F401
from mmpeft.engine.hooks import TrainableCheckpointHook

from e2e_utils import (
    REPO,
    TINY_HST,
    TINY_SWIN,
    shrink_config,
    write_tiny_swin_checkpoint,
    write_tiny_vit_checkpoint,
)

pytestmark = pytest.mark.usefixtures('clean_mmengine_globals')

TOOL = osp.join(REPO, 'tools', 'model_converters', 'export_peft.py')
_spec = importlib.util.spec_from_file_location('export_peft', TOOL)
export_peft = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_peft)

# (config, base writer, extra overrides)
CASES = {
    'swin-lora': ('mona/retinanet_swin-l-lora_fpn_1x_voc0712.py', write_tiny_swin_checkpoint, {}),
    'swin-mona': ('mona/retinanet_swin-l-mona_fpn_1x_voc0712.py', write_tiny_swin_checkpoint, {}),
    'vit-lora': ('foundation/upernet_dinov2-b-lora_simplefpn_8xb2-160k_ade20k-512x512.py',
                 write_tiny_vit_checkpoint,
                 {'model.neck.out_channels': 32, 'model.decode_head.in_channels': [32] * 4,
                  'model.auxiliary_head.in_channels': 32}),
}


def build(cfg: Config) -> torch.nn.Module:
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return MODELS.build(cfg.model).eval()


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Per case: the tiny config, a trainable-only checkpoint of random trained weights."""
    root = tmp_path_factory.mktemp('export')
    out = {}
    for name, (config, writer, extra) in CASES.items():
        base = writer(str(root / f'{name}_base.pth'))
        cfg_path = shrink_config(config, osp.join(REPO, 'data', 'none'), base,
                                 str(root / f'{name}.py'), schedule={}, extra=extra)
        model = build(Config.fromfile(cfg_path))
        model.init_weights()
        g = torch.Generator().manual_seed(2)
        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:  # LoRA's B starts at zero: make every update count
                    p.add_(torch.randn(p.shape, generator=g) * 0.1)
        small = dict(meta={}, state_dict=model.state_dict())
        TrainableCheckpointHook().before_save_checkpoint(SimpleNamespace(model=model), small)
        torch.save(small, root / f'{name}.pth')
        out[name] = SimpleNamespace(cfg=cfg_path, ckpt=str(root / f'{name}.pth'), root=root,
                                    state={k: v.clone() for k, v in model.state_dict().items()})
    return out


def image_batch(model: torch.nn.Module, size: int = 96) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    img = (torch.rand(3, size, size + 32, generator=g) * 255).to(torch.uint8)
    return model.data_preprocessor(dict(inputs=[img]), False)['inputs']


def flat(outputs) -> list:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for o in outputs for t in flat(o)]


def tensor_outputs(model: torch.nn.Module) -> list:
    with torch.no_grad():
        return flat(model(image_batch(model), mode='tensor'))


def exported(trained, name: str, merge: bool, tmp_path):
    """Run the tool; ``(exported config, exported model, original model)``."""
    t = trained[name]
    out_dir = tmp_path / name
    assert export_peft.main([t.cfg, t.ckpt, str(out_dir)] + (['--merge'] if merge else [])) == 0
    stem = osp.splitext(osp.basename(t.cfg))[0] + ('_merged' if merge else '')
    cfg = Config.fromfile(str(out_dir / f'{stem}.py'))
    model = build(cfg)
    ckpt = torch.load(out_dir / f'{stem}.pth', weights_only=True)
    model.load_state_dict(ckpt['state_dict'], strict=True)
    original = build(Config.fromfile(t.cfg))
    original.load_state_dict(t.state, strict=True)
    return cfg, model, original, out_dir / f'{stem}.py', out_dir / f'{stem}.pth'


def assert_close(a: list, b: list, tol: float) -> None:
    """Each tensor within ``tol`` of the other, relative to its largest magnitude (at least 1):
    the random heads of these tiny models output values up to ~1e4, where float32 rounding
    alone is ~1e-3."""
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x.shape == y.shape
        assert (x - y).abs().max().item() <= tol * max(1.0, y.abs().max().item())


def backbone_features(model: torch.nn.Module) -> list:
    with torch.no_grad():
        return flat(model.backbone(image_batch(model)))


def test_merged_lora_swin_is_mmdet_swin_with_the_same_outputs(trained, tmp_path):
    from mmdet.models.backbones import SwinTransformer
    cfg, model, original, cfg_path, ckpt_path = exported(trained, 'swin-lora', True, tmp_path)
    assert cfg.model.backbone.type == 'mmdet.SwinTransformer'
    assert type(model.backbone) is SwinTransformer  # the exported state loaded strictly into it
    assert 'custom_imports' not in cfg
    assert not any('mmpeft' in str(h) for h in cfg.get('custom_hooks', []))
    assert not any('lora' in k for k in model.state_dict())
    ref = tensor_outputs(original)
    assert_close(backbone_features(model), backbone_features(original), 1e-5)
    assert_close(tensor_outputs(model), ref, 1e-5)
    # guard: without the LoRA update (the base weights alone) the outputs differ
    unmerged = build(Config.fromfile(trained['swin-lora'].cfg))
    unmerged.load_state_dict({k: v for k, v in trained['swin-lora'].state.items()}, strict=True)
    for m in unmerged.modules():
        if hasattr(m, 'lora_B'):
            torch.nn.init.zeros_(m.lora_B)
    assert max((a - b).abs().max().item() for a, b in
               zip(backbone_features(unmerged), backbone_features(original))) > 1e-2

    # the exported pair runs with mmdet alone: importing mmpeft fails in this process
    out_file = tmp_path / 'no_mmpeft.pth'
    script = textwrap.dedent(f"""
        import sys
        sys.modules['mmpeft'] = None  # any import of mmpeft raises ImportError
        import torch
        from mmdet.apis import init_detector
        model = init_detector({str(cfg_path)!r}, {str(ckpt_path)!r}, device='cpu')
        g = torch.Generator().manual_seed(0)
        img = (torch.rand(3, 96, 128, generator=g) * 255).to(torch.uint8)
        inputs = model.data_preprocessor(dict(inputs=[img]), False)['inputs']
        with torch.no_grad():
            out = model(inputs, mode='tensor')
        flat = lambda o: [o] if isinstance(o, torch.Tensor) else [t for x in o for t in flat(x)]
        torch.save(flat(out), {str(out_file)!r})
        print('mmpeft' in sys.modules and sys.modules['mmpeft'] is not None)
        """)
    run = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         cwd=str(tmp_path), timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith('False')
    assert_close(torch.load(out_file, weights_only=True), tensor_outputs(model), 1e-6)


def test_merged_lora_vit_is_mmpretrain_vit_with_the_same_outputs(trained, tmp_path):
    cfg, model, original, _, _ = exported(trained, 'vit-lora', True, tmp_path)
    assert cfg.model.backbone.type == 'mmpretrain.VisionTransformer'
    assert type(model.backbone).__module__ == 'mmpretrain.models.backbones.vision_transformer'
    # the SimpleFPN neck is mmpeft's: the config keeps importing mmpeft
    assert 'mmpeft' in cfg.custom_imports.imports
    assert_close(backbone_features(model), backbone_features(original), 1e-5)
    assert_close(tensor_outputs(model), tensor_outputs(original), 1e-5)


def test_mona_is_refused_for_merge_and_exported_unmerged(trained, tmp_path, capsys):
    t = trained['swin-mona']
    assert export_peft.main([t.cfg, t.ckpt, str(tmp_path / 'm'), '--merge']) == 1
    err = capsys.readouterr().err
    assert 'cannot merge Mona' in err and 'without merging' in err
    assert not (tmp_path / 'm').exists()
    cfg, model, original, _, ckpt_path = exported(trained, 'swin-mona', False, tmp_path)
    assert cfg.model.backbone.type == 'MonaSwinTransformer'
    assert 'init_cfg' not in cfg.model.backbone  # the file holds every weight: no base needed
    assert len(torch.load(ckpt_path, weights_only=True)['state_dict']) == len(t.state)
    for a, b in zip(tensor_outputs(model), tensor_outputs(original)):
        assert torch.equal(a, b)


@pytest.mark.parametrize('kind', ['vpt', 'hst'])
def test_prompt_and_side_network_backbones_cannot_fold(kind):
    from mmpeft.models.backbones import HSTViT, VPTSwin
    backbone = (VPTSwin(num_prompts=2, **TINY_SWIN) if kind == 'vpt' else HSTViT(**TINY_HST))
    with pytest.raises(NotImplementedError, match='cannot be folded'):
        backbone.fold_peft()
    with pytest.raises(NotImplementedError, match='upstream'):
        HSTViT.upstream_config({})
