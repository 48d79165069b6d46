"""2-process CPU DDP runs of tools/dist_train.sh with FreezeBackboneHook, no find_unused_parameters.

(i) plain mmdet SwinTransformer + hook ``['bias']`` (BitFit): the hook freezes after DDP was
built and must re-wrap; (ii) ``MonaSwinTransformer`` (freezes itself) + hook ``['mona']``: the hook
only verifies. Both start from a ``load_from`` checkpoint written here, so the test knows the
initial weights and can check exactly which parameters training changed; a helper hook checks
that both ranks end with identical parameters (gradients were synchronised).
"""
import glob
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Set

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope, init_default_scope

import mmpeft  # noqa: F401
from mmpeft.testing.synthetic import make_coco

from e2e_utils import free_port

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / 'tests' / 'data' / 'configs'
BASE_CONFIG = CONFIG_DIR / 'dist_tiny_retinanet.py'
CLASSES = ('person', 'car')


@pytest.fixture(autouse=True)
def _clean_scope():
    yield
    DefaultScope._instance_dict.clear()


def write_config(tmp_path: Path, case: str, data_root: Path) -> Path:
    if case == 'bitfit':
        model = ''
        hooks = "dict(type='FreezeBackboneHook', module='backbone', trainable=['bias'])"
    else:
        model = """
            model = dict(backbone=dict(type='MonaSwinTransformer',
                                       mona_cfg=dict(inner_dims=8, dropout=0.1)))"""
        hooks = "dict(type='FreezeBackboneHook', module='backbone', trainable=['mona'])"
    path = tmp_path / f'{case}.py'
    path.write_text(textwrap.dedent(f"""
        _base_ = '{BASE_CONFIG}'
        {model.strip()}
        train_dataloader = dict(dataset=dict(
            data_root='{data_root}/', metainfo=dict(classes={CLASSES!r})))
        custom_hooks = [{hooks}, dict(type='RankConsistencyHook')]
        """))
    return path


def initial_checkpoint(config: Path, out: Path) -> Dict[str, torch.Tensor]:
    cfg = Config.fromfile(str(config), import_custom_modules=False)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(dict(state_dict=state), out)
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def expected_changed(params: Dict[str, torch.Tensor], pattern: str) -> Set[str]:
    return {n for n in params if not n.startswith('backbone.') or pattern in n[len('backbone.'):]}


@pytest.mark.parametrize('case,pattern', [('bitfit', 'bias'), ('mona', 'mona')])
def test_dist_train_with_freeze_hook(tmp_path, case, pattern):
    data_root = tmp_path / 'data'
    make_coco(str(data_root), num_train=6, num_val=0, img_size=96, classes=CLASSES)
    config = write_config(tmp_path, case, data_root)
    init = initial_checkpoint(config, tmp_path / 'init.pth')
    work_dir = tmp_path / 'work'

    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore',
               PYTHONPATH=os.pathsep.join([str(CONFIG_DIR), os.environ.get('PYTHONPATH', '')]))

    def dist_train(max_iters: int, *extra: str) -> str:
        proc = subprocess.run(
            ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), '2', '--work-dir',
             str(work_dir), *extra, '--cfg-options', f'load_from={tmp_path / "init.pth"}',
             f'train_cfg.max_iters={max_iters}', 'default_hooks.checkpoint.interval=2',
             'randomness.seed=0'],
            cwd=REPO, env=dict(env, PORT=str(free_port())), capture_output=True, text=True,
            timeout=400)
        assert proc.returncode == 0, (proc.stdout[-4000:] + proc.stderr[-4000:])
        logs = sorted(glob.glob(str(work_dir / '*' / '*.log')))
        return Path(logs[-1]).read_text()

    # 2 iterations, then a fresh launch resumes from iter_2.pth and trains to 4
    log = dist_train(2)
    assert 'Iter(train) [2/4]' not in log and 'Iter(train) [2/2]' in log
    assert (work_dir / 'iter_2.pth').is_file()
    check_log(log, case)
    log = dist_train(4, '--resume')
    assert 'resumed epoch: 0, iter: 2' in log and 'Iter(train) [4/4]' in log
    assert 'Iter(train) [1/4]' not in log
    check_log(log, case)

    check = json.loads((work_dir / 'rank_check.json').read_text())
    assert check['world_size'] == 2
    assert check['wrapper'] == 'MMDistributedDataParallel'
    assert check['find_unused_parameters'] is False
    assert check['max_abs_diff'] == 0.0

    ckpt = torch.load(work_dir / 'iter_4.pth', map_location='cpu', weights_only=True)
    final = ckpt['state_dict']
    changed = {n for n, t in init.items() if not torch.equal(final[n], t)}
    assert changed == expected_changed(init, pattern)


def check_log(log: str, case: str) -> None:
    if case == 'bitfit':
        assert 're-wrapped MMDistributedDataParallel' in log
    else:
        assert "'backbone' already trains exactly the parameters matched by ['mona']" in log
        assert 're-wrapped' not in log
    assert 'backbone trainable share:' in log


@pytest.mark.parametrize('script,args', [
    ('dist_train.sh', []), ('dist_train.sh', ['CONFIG']), ('dist_train.sh', ['BASE', '0']),
    ('dist_train.sh', ['BASE', 'two']), ('dist_train.sh', ['nope.py', '2']),
    ('dist_test.sh', ['BASE', 'nope.pth', '2']), ('dist_test.sh', ['BASE', 'BASE', '-1'])])
def test_launchers_print_their_usage_on_bad_arguments(script, args):
    args = [str(BASE_CONFIG) if a == 'BASE' else a for a in args]
    proc = subprocess.run(['bash', str(REPO / 'tools' / script), *args], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith('error: ') and 'usage: bash' in proc.stderr
    assert 'Traceback' not in proc.stderr and 'torch.distributed' not in proc.stderr
