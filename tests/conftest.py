import logging
import os
import os.path as osp
import sys

import pytest
import torch

# test helpers (e2e_utils, _swin_reference) are imported as top-level modules
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs ``-n 2``), give each worker its share of the cores,
    in process and in the tools the tests start, instead of every worker using them all."""
    workers = os.environ.get('PYTEST_XDIST_WORKER_COUNT')
    if workers:
        threads = str(max(1, (os.cpu_count() or 1) // int(workers)))
        os.environ['OMP_NUM_THREADS'] = threads
        torch.set_num_threads(int(threads))


def _run_first(item) -> int:
    """The end-to-end runs through tools/ go out first, the demo first of all, so that the
    workers end together instead of one long run starting last."""
    path = str(item.fspath)
    return 0 if path.endswith('test_demo.py') else 1 if '/test_tools/' in path else 2


def pytest_collection_modifyitems(config, items):
    """For ``--dist loadgroup`` (``make test``): each module's tests run on one worker, so its
    module-scoped fixtures (tiny trained models) are made once, unless the module sets
    ``SPLIT_ACROSS_WORKERS = True`` (many independent tests, cheap fixtures); long runs first."""
    for item in items:
        module = getattr(item, 'module', None)
        if module is not None and not getattr(module, 'SPLIT_ACROSS_WORKERS', False):
            item.add_marker(pytest.mark.xdist_group(module.__name__))
    items.sort(key=_run_first)


@pytest.fixture
def clean_mmengine_globals():
    """After a test that built mmengine Runners: close their log files and forget the global
    logger, visualizer, scope and message hub instances (and any process group)."""
    yield
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import DefaultScope
    from mmengine.visualization import Visualizer
    logging.shutdown()
    for cls in (MMLogger, Visualizer, DefaultScope, MessageHub):
        cls._instance_dict.clear()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
