"""Config helpers shared by ``tools/train.py`` and ``tools/test.py``."""
import glob
import logging
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config


def default_work_dir(config_path: str) -> str:
    """OpenMMLab's default: ``./work_dirs/<config name without .py>``."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def adapt_for_launcher(cfg: Config, launcher: str) -> None:
    """Set ``cfg.launcher`` and make a distributed launch work on a CPU-only machine.

    Without CUDA, DDP needs ``device_ids=None`` (the runner passes the local rank otherwise) and
    the process group must use ``gloo`` (configs default to ``nccl``). With CUDA nothing changes.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision (``--amp``)."""
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper == 'AmpOptimWrapper':
        return
    assert optim_wrapper == 'OptimWrapper', \
        f'--amp is only supported with OptimWrapper, but got {optim_wrapper}'
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``work_dir/last_checkpoint`` names, or else the newest ``*.pth`` there.

    mmengine only reads ``last_checkpoint``; an empty or stale one (a run killed while writing it,
    a deleted file) would make it resume from ``''``. Returns None if the work dir has none.
    """
    from mmengine.logging import print_log
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            path = f.read().strip()
        if path and osp.isfile(path):
            return path
        why = 'is empty' if not path else f'names {path}, which does not exist'
        found = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=os.path.getmtime)
        print_log(f'{record} {why}; ' + (f'resuming from the newest checkpoint {found[-1]}'
                                         if found else 'no checkpoint found'),
                  logger='current', level=logging.WARNING)
        return found[-1] if found else None
    found = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=os.path.getmtime)
    return found[-1] if found else None


def resolve_resume(cfg: Config, resume: Optional[str]) -> None:
    """``--resume`` alone resumes from the latest checkpoint in the work dir (training from
    scratch if there is none); with a path, from that file, which must exist."""
    if resume == 'auto':
        path = latest_checkpoint(cfg.work_dir)
        cfg.resume = path is not None
        cfg.load_from = path
        if path is None:
            from mmengine.logging import print_log
            print_log(f'--resume: no checkpoint in {cfg.work_dir}; training from scratch',
                      logger='current', level=logging.WARNING)
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume: checkpoint file not found: {resume}')
        cfg.resume = True
        cfg.load_from = resume


def finish_distributed() -> None:
    """End a distributed run cleanly: wait for every rank, then destroy the process group.

    Without it a rank that finishes first can exit while gloo's threads are still alive
    (``terminate called without an active exception``, SIGABRT), failing the whole launch.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
