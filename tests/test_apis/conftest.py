"""The tiny task files shared by the tests of mmpeft.apis and its tools (built once)."""
from types import SimpleNamespace

import pytest

from e2e_utils import write_tiny_swin_checkpoint
from serve_cases import TASKS, task_config, write_image, write_task_files


@pytest.fixture(scope='session')
def serve_files(tmp_path_factory):
    """Configs, trainable-only and full checkpoints of the three tasks (one base), and an image."""
    root = tmp_path_factory.mktemp('serve')
    base = write_tiny_swin_checkpoint(str(root / 'base.pth'))
    configs, small, full = {}, {}, {}
    for seed, task in enumerate(TASKS):
        configs[task] = task_config(task, base, str(root / f'{task}.py'))
        small[task], full[task] = write_task_files(configs[task], str(root / task), seed)
    return SimpleNamespace(root=root, base=base, configs=configs, small=small, full=full,
                           image=write_image(str(root / 'shapes.png')))
