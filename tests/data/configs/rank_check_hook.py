"""Test helper imported by the distributed test configs (``custom_imports``).

``RankConsistencyHook`` checks after training that every rank holds identical parameters (the
ranks saw different images, so only working gradient synchronisation keeps them equal) and
rank 0 writes the result to ``<work_dir>/rank_check.json``.
"""
import json
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module(force=True)
class RankConsistencyHook(Hook):
    """Compare the parameters of all ranks at the end of training."""
    priority = 'LOWEST'

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        flat = torch.cat([p.detach().reshape(-1).float() for p in model.parameters()])
        result = dict(world_size=1, max_abs_diff=0.0, wrapper=type(runner.model).__name__,
                      find_unused_parameters=getattr(runner.model, 'find_unused_parameters',
                                                     None))
        if dist.is_available() and dist.is_initialized():
            gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
            dist.all_gather(gathered, flat)
            result['world_size'] = dist.get_world_size()
            result['max_abs_diff'] = max(float((g - flat).abs().max()) for g in gathered)
        if runner.rank == 0:
            with open(osp.join(runner.work_dir, 'rank_check.json'), 'w') as f:
                json.dump(result, f)
