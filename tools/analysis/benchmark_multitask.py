"""Benchmark many tasks on one base: memory and load time of shared vs separately loaded models.

    python tools/analysis/benchmark_multitask.py [--widths swin-b swin-l] [--work-dir DIR]

For each Swin width, three Mona tasks on one random base checkpoint (COCO Cascade Mask R-CNN,
ADE20K UperNet and DOTA Oriented R-CNN, from configs/mona/, all with that width's Swin) are
written as trainable-only files. Then each setting is loaded in a fresh subprocess:

* ``shared``: 1, 2 and 3 tasks through :class:`mmpeft.apis.SharedBaseModels` (base read once, one
  copy of the frozen backbone),
* ``separate``: 1, 2 and 3 tasks through :func:`mmpeft.apis.init_model`, one full model each.

Reported per setting: load time (wall clock from the first config read to the last model ready),
resident memory (RSS) the models add over the process after its imports (freed heap returned
to the system with ``malloc_trim`` first), and peak RSS. The ratios compare 3 shared tasks with 3
separate models, measured in the same run. Weights are random: memory and time do not depend on
them.
"""
import argparse
import ctypes
import gc
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time
from typing import Dict, List

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = {  # task -> config under configs/mona/
    'coco': 'cascade-mask-rcnn_swin-b-mona_fpn_ms-3x_coco.py',
    'ade20k': 'upernet_swin-l-mona_8xb2-160k_ade20k-512x512.py',
    'dota': 'oriented-rcnn-le90_swin-b-mona_fpn_1x_dota.py',
}
WIDTHS = {'swin-b': 'swin_b', 'swin-l': 'swin_l'}  # names in configs/_base_/swin_22k.py


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--widths', nargs='+', default=list(WIDTHS), choices=list(WIDTHS))
    p.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'benchmark_multitask'))
    p.add_argument('--json', help='also write the results to this JSON file')
    p.add_argument('--child', nargs='+', help=argparse.SUPPRESS)  # MODE CONFIG CKPT [...]
    return p.parse_args(argv)


def log(msg: str) -> None:
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', flush=True)


def rss_mib() -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no VmRSS in /proc/self/status')


def trim_heap() -> None:
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError:  # not glibc: RSS may then include freed heap
        pass


def task_configs(width: str, base: str, out_dir: str) -> Dict[str, str]:
    """The three task configs with ``width``'s Swin on ``base``, dumped to ``out_dir``."""
    from mmengine.config import Config
    swin = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'swin_22k.py'))[WIDTHS[width]]
    dims = [swin['embed_dims'] * 2**i for i in range(4)]
    out = {}
    for task, name in CONFIGS.items():
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'mona', name))
        cfg.model.backbone = dict(swin, type='MonaSwinTransformer',
                                  init_cfg=dict(type='Pretrained', checkpoint=base))
        if 'neck' in cfg.model:
            cfg.model.neck.in_channels = dims
        else:
            cfg.model.decode_head.in_channels = dims
            cfg.model.auxiliary_head.in_channels = dims[2]
        out[task] = osp.join(out_dir, f'{task}_{width}.py')
        cfg.dump(out[task])
    return out


def write_files(width: str, work_dir: str) -> Dict[str, tuple]:
    """A random base checkpoint and one trainable-only file per task: ``{task: (config, file)}``."""
    import torch
    from mmengine.config import Config

    from mmpeft.apis import init_model
    from mmpeft.engine.checkpoint import shrink_checkpoint
    from mmpeft.models.backbones import PlainSwinTransformer
    os.makedirs(work_dir, exist_ok=True)
    base = osp.join(work_dir, f'base_{width}.pth')
    if not osp.isfile(base):
        swin = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'swin_22k.py'))[WIDTHS[width]]
        swin.pop('init_cfg')
        torch.manual_seed(0)
        state = {k: v for k, v in PlainSwinTransformer(**swin).state_dict().items()
                 if not k.startswith('norm')}  # the output norms are not pretrained
        torch.save(state, base)
        log(f'{width}: wrote the random base {base} ({osp.getsize(base) / 2**20:.0f} MiB)')
    files = {}
    for task, config in task_configs(width, base, work_dir).items():
        path = osp.join(work_dir, f'{task}_{width}_mona.pth')
        if not osp.isfile(path):
            model = init_model(config)
            ckpt = dict(meta=dict(dataset_meta=model.dataset_meta), state_dict=model.state_dict())
            shrink_checkpoint(model, ckpt)
            torch.save(ckpt, path)
            del model, ckpt
            gc.collect()
            log(f'{width}: wrote {task} {path} ({osp.getsize(path) / 2**20:.1f} MiB)')
        files[task] = (config, path)
    return files


def child(mode: str, pairs: List[str]) -> dict:
    """Load the tasks in this process (``--child``); returns the measurements."""
    import mmpeft  # noqa: F401,I001  (its compatibility layer before mmrotate)
    import mmdet.models  # noqa: F401  (every library imported before the baseline)
    import mmrotate.models  # noqa: F401
    import mmseg.models  # noqa: F401

    from mmpeft.apis import SharedBaseModels, init_model
    from mmpeft.apis.inference import load_config
    tasks = list(zip(pairs[::2], pairs[1::2]))
    for config, _ in tasks:  # the configs' custom imports and scopes
        load_config(config)
    trim_heap()
    before = rss_mib()
    start = time.perf_counter()
    if mode == 'shared':
        shared = SharedBaseModels()
        for i, (config, ckpt) in enumerate(tasks):
            shared.add(f'task{i}', config, ckpt)
        models = list(shared.models.values())
    else:
        models = [init_model(config, ckpt) for config, ckpt in tasks]
    seconds = time.perf_counter() - start
    trim_heap()
    after = rss_mib()
    params = {id(p): p.numel() * p.element_size() for m in models for p in m.parameters()}
    return dict(mode=mode, tasks=len(tasks), load_s=seconds, rss_mib=after - before,
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                param_mib=sum(params.values()) / 2**20)


def measure(mode: str, files: List[tuple]) -> dict:
    cmd = [sys.executable, osp.abspath(__file__), '--child', mode]
    for config, ckpt in files:
        cmd += [config, ckpt]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
               PYTHONWARNINGS='ignore')
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f'benchmark_multitask: {mode} with {len(files)} tasks failed:\n'
                         + out.stdout[-2000:] + out.stderr[-4000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: List[dict]) -> str:
    lines = ['| width | loading | tasks | load time (s) | RSS added (MiB) | peak RSS (MiB) | '
             'parameters held (MiB) |', '|---|---|---:|---:|---:|---:|---:|']
    for r in results:
        lines.append(f"| {r['width']} | {r['mode']} | {r['tasks']} | {r['load_s']:.1f} | "
                     f"{r['rss_mib']:.0f} | {r['peak_rss_mib']:.0f} | {r['param_mib']:.0f} |")
    return '\n'.join(lines)


def ratios(results: List[dict]) -> List[str]:
    out = []
    for width in dict.fromkeys(r['width'] for r in results):
        get = {(r['mode'], r['tasks']): r for r in results if r['width'] == width}
        s, p = get[('shared', 3)], get[('separate', 3)]
        out.append(f'{width}: 3 tasks on one base use {s["rss_mib"] / p["rss_mib"]:.2f}x the '
                   f'memory and {s["load_s"] / p["load_s"]:.2f}x the load time of 3 separate '
                   f'models ({s["rss_mib"]:.0f} vs {p["rss_mib"]:.0f} MiB, {s["load_s"]:.1f} vs '
                   f'{p["load_s"]:.1f} s)')
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    from mmengine.logging import MMLogger
    MMLogger.get_instance('benchmark_multitask', log_level='WARNING')
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1:])))
        return
    results = []
    for width in args.widths:
        log(f'{width}: writing the base and the three task files under {args.work_dir}')
        files = list(write_files(width, args.work_dir).values())
        for mode in ('shared', 'separate'):
            for n in (1, 2, 3):
                log(f'{width}: loading {n} task(s), {mode}')
                r = dict(measure(mode, files[:n]), width=width)
                log(f'  {r["load_s"]:.1f} s, +{r["rss_mib"]:.0f} MiB RSS')
                results.append(r)
    print('\n' + table(results) + '\n')
    for line in ratios(results):
        print(line)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
