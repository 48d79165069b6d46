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
