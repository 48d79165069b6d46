"""One registration mechanism: modules are visible from the mmdet, mmseg, mmrotate and mmpretrain
scopes."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope

import mmpeft  # noqa: F401
from mmpeft.registry import register_hook, register_model

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@register_model
class RegistryProbeModule(nn.Module):
    """A module declared once through mmpeft's mechanism."""

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)


@register_hook
class RegistryProbeHook(Hook):
    """A hook declared once through mmpeft's mechanism."""

    def __init__(self, tag: str = '') -> None:
        self.tag = tag


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmrotate', 'mmpretrain'])
def test_model_builds_in_each_scope(scope):
    import importlib
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        module = registry.MODELS.build(dict(type='RegistryProbeModule', width=5))
        hook = registry.HOOKS.build(dict(type='RegistryProbeHook', tag=scope))
    assert isinstance(module, RegistryProbeModule) and module.fc.in_features == 5
    assert isinstance(hook, RegistryProbeHook) and hook.tag == scope


def test_custom_imports_is_the_only_line_needed(tmp_path):
    """A fresh interpreter: a config with only custom_imports reaches mmpeft's modules."""
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        "default_scope = 'mmseg'\n"
        "custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)\n"
        "adapter = dict(type='Mona', in_dims=32)\n")
    code = (
        'from mmengine.config import Config\n'
        'from mmengine.registry import init_default_scope\n'
        f'cfg = Config.fromfile({str(cfg_file)!r})\n'
        'init_default_scope(cfg.default_scope)\n'
        'from mmseg.registry import MODELS\n'
        'm = MODELS.build(cfg.adapter)\n'
        'print(type(m).__name__, sum(p.numel() for p in m.parameters()))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ['Mona', str(133 * 32 + 9728)]
