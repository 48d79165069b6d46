import logging
import os.path as osp
import sys

import pytest
import torch

# test helpers (e2e_utils, _swin_reference) are imported as top-level modules
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))


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
