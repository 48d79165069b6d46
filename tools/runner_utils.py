"""Config helpers shared by ``tools/train.py`` and ``tools/test.py``."""
import argparse
import glob
import logging
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config, DictAction


def default_work_dir(config_path: str) -> str:
    """OpenMMLab's default: ``./work_dirs/<config name without .py>``."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The arguments both tools take: ``--work-dir``, ``--cfg-options``, ``--launcher`` and the
    local rank (torchrun passes ``--local-rank``, torch.distributed.launch ``--local_rank``)."""
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_iters=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_common(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line; export ``LOCAL_RANK`` from the argument if the launcher did not."""
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(args: argparse.Namespace) -> Config:
    """``args.config`` with ``--cfg-options`` merged, adapted to the launcher, with the work dir
    (``--work-dir``, the config's, or OpenMMLab's default)."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    adapt_for_launcher(cfg, args.launcher)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config)
    return cfg


def build_runner(cfg: Config):
    """The config's runner: ``runner_type`` if it names one, mmengine's ``Runner`` otherwise."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


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
    found = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=os.path.getmtime)
    newest = found[-1] if found else None
    record = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            path = f.read().strip()
        if path and osp.isfile(path):
            return path
        why = 'is empty' if not path else f'names {path}, which does not exist'
        print_log(f'{record} {why}; ' + (f'resuming from the newest checkpoint {newest}'
                                         if newest else 'no checkpoint found'),
                  logger='current', level=logging.WARNING)
    return newest


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


def finish_distributed(runner=None) -> None:
    """End a distributed run: wait for every rank, then destroy the process group such that its
    communication threads are joined while the interpreter is still fully alive.

    gloo runs each collective on a worker thread, which drops the finished collective only after
    it has woken the waiting thread; if the collective holds Python objects (tensors that Python
    also sees, the autograd context captured in ``backward``) that takes the GIL. CPython ends a
    thread that asks for the GIL once interpreter shutdown has begun (``pthread_exit``), and the
    unwind through torch's ``noexcept`` destructors aborts the rank (``terminate called without
    an active exception``, SIGABRT; the launcher then kills the other ranks). A barrier does not
    close that window (on a busy machine the worker can be descheduled right after the
    collective), and ``destroy_process_group`` stops no thread while anything still references
    the group: the DDP wrapper (``process_group`` and its reducer) or default arguments that
    captured ``group.WORLD`` (``torch.distributed.nn.functional`` when it is first imported after
    ``init_process_group``, as by a first DDP build). The group then lived on into Python's own
    teardown. Here those references are dropped, so destroying the group runs its destructor,
    which lets the threads finish any pending clean-up (the GIL is released) and joins them.

    Args:
        runner: the finished runner, if any; its model wrapper is replaced by the bare model.
    """
    import gc
    import sys
    import types

    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    if runner is not None:
        from mmengine.model import is_model_wrapper
        while is_model_wrapper(runner.model):
            runner.model = runner.model.module
    group = dist.group.WORLD
    dist.destroy_process_group()
    for name, module in list(sys.modules.items()):
        if not name.startswith('torch.') or not hasattr(module, '__dict__'):
            continue
        for func in list(vars(module).values()):
            if isinstance(func, types.FunctionType) and func.__defaults__ and any(
                    d is group for d in func.__defaults__):
                func.__defaults__ = tuple(None if d is group else d for d in func.__defaults__)
    gc.collect()
    # the last reference: torch drops it with the GIL released, ~ProcessGroupGloo joins threads
    del group
    tasks = '/proc/self/task'
    if os.path.isdir(tasks):
        left = []
        for tid in os.listdir(tasks):
            try:
                with open(osp.join(tasks, tid, 'comm')) as f:
                    name = f.read().strip()
            except OSError:  # the thread ended meanwhile
                continue
            if name.startswith(('pt_gloo', 'gloo')):
                left.append(name)
        if left:
            from mmengine.logging import print_log
            print_log(f'{len(left)} gloo threads ({sorted(set(left))}) still run after the '
                      'process group was destroyed: something still references it, and the '
                      'rank can abort at exit (terminate called without an active exception)',
                      logger='current', level=logging.WARNING)
