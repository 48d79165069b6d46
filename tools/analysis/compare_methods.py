"""The Mona paper's comparison for one task, measured: every method's config side by side.

    python tools/analysis/compare_methods.py TASK [--bench [--img-size 256 --batch 1 --iters 3
        --device cpu|cuda]] [--plot FILE.png] [--json FILE.json] [--configs-dir configs/mona]
        [--zoo-dir configs]

TASK is ``coco``, ``ade20k``, ``voc``, ``dota`` or a classification set (``flowers102``,
``pets``, ``voc07-cls``): the ten configs of that task in
``configs/mona/`` (full fine-tuning, fixed, BitFit, norm-tuning, partial-1, Adapter, AdaptFormer,
LoRA, LoRand, Mona) and, for the dense tasks, those of the other methods on the same recipe
(SSF, FacT-TT, FacT-TK, KAdaptation, Convpass, CoLin in ``configs/<method>/``). For each it prints
the trainable backbone parameters and their share of the backbone, and the size of the per-task
trainable-only checkpoint (what ``TrainableCheckpointHook`` writes: the trained tensors and the
buffers of the whole model). With ``--bench`` it also measures training step time and peak memory
of every method in one interleaved run (``tools/analysis/benchmark_peft.py``, random weights,
synthetic batch) and prints their ratios to full fine-tuning. ``--plot`` draws trainable share
against measured cost (step-time ratio with ``--bench``, else the trainable-only file size), one
point per method, as the paper's figure.
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TOOLS)
sys.path.insert(0, osp.join(TOOLS, 'analysis'))

import benchmark_peft  # noqa: E402

#: task -> the config file name, with ``{}`` for the method
TASKS = {
    'coco': 'cascade-mask-rcnn_swin-b-{}_fpn_ms-3x_coco.py',
    'ade20k': 'upernet_swin-l-{}_8xb2-160k_ade20k-512x512.py',
    'voc': 'retinanet_swin-l-{}_fpn_1x_voc0712.py',
    'dota': 'oriented-rcnn-le90_swin-b-{}_fpn_1x_dota.py',
    'flowers102': 'swin-l-{}_4xb4-100e_flowers102-224px.py',
    'pets': 'swin-l-{}_4xb4-100e_oxford-iiit-pet-224px.py',
    'voc07-cls': 'swin-l-{}_4xb4-100e_voc07-224px.py',
}
#: the methods in the paper's order, full fine-tuning first (the reference of every ratio)
METHODS = ('full', 'fixed', 'bitfit', 'norm-tuning', 'partial-1', 'adapter', 'adaptformer',
           'lora', 'lorand', 'mona')
#: the methods of the field whose configs live in a folder of their own (``configs/<folder>/``),
#: on the same recipes: method -> folder
ZOO_FOLDERS = {'ssf': 'ssf', 'fact-tt': 'fact', 'fact-tk': 'fact', 'kadaptation': 'kadaptation',
               'convpass': 'convpass', 'colin': 'colin'}
#: the tasks that have configs of the other methods (the dense ones)
ZOO_TASKS = ('coco', 'ade20k', 'voc', 'dota')
#: every method compared
ALL_METHODS = METHODS + tuple(ZOO_FOLDERS)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('task', choices=sorted(TASKS))
    p.add_argument('--configs-dir', default=osp.join(REPO, 'configs', 'mona'),
                   help='where the configs of the task are (default: configs/mona)')
    p.add_argument('--zoo-dir', default=osp.join(REPO, 'configs'),
                   help='where the folders of the other methods are (ssf/, fact/, ...; default: '
                   'configs)')
    p.add_argument('--bench', action='store_true',
                   help='also measure step time and peak memory (benchmark_peft)')
    p.add_argument('--img-size', type=int, default=256)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--iters', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--no-memory', action='store_true',
                   help='with --bench: skip the per-method memory subprocesses')
    p.add_argument('--plot', help='draw trainable share vs. measured cost to this PNG file')
    p.add_argument('--json', help='write the results to this JSON file')
    return p.parse_args(argv)


def task_configs(task: str, configs_dir: str,
                 zoo_dir: Optional[str] = None) -> Dict[str, str]:
    """``{method: config path}`` for the ten methods of ``configs_dir`` and, with ``zoo_dir``, the
    others (:data:`ZOO_FOLDERS`) in its folders for a task of :data:`ZOO_TASKS` (an error names
    any that is missing)."""
    found = {m: osp.join(configs_dir, TASKS[task].format(m)) for m in METHODS}
    if zoo_dir is not None and task in ZOO_TASKS:
        found.update((m, osp.join(zoo_dir, folder, TASKS[task].format(m)))
                     for m, folder in ZOO_FOLDERS.items())
    missing = [p for p in found.values() if not osp.isfile(p)]
    if missing:
        have = sorted(osp.basename(p) for p in glob.glob(osp.join(configs_dir, '*.py')))
        raise SystemExit(f'error: no config for {len(missing)} method(s) of {task} in '
                         f'{configs_dir}: {[osp.basename(p) for p in missing]} (found {have})')
    return found


def static_rows(configs: Dict[str, str]) -> List[dict]:
    """Counts and trainable-only file size of every method, from its built model."""
    from mmpeft.models.utils import count_parameters
    rows = []
    for method, path in configs.items():
        model, _, _, _ = benchmark_peft.build(path, 'cpu')
        backbone = count_parameters(model.backbone)
        stats = benchmark_peft.static_stats(model)
        rows.append(dict(method=method, config=osp.basename(path),
                         backbone_trainable=backbone['trainable'],
                         backbone_total=backbone['total'],
                         share=backbone['trainable'] / backbone['total'],
                         ckpt_small=stats['ckpt_small'], ckpt_full=stats['ckpt_full']))
        del model
    return rows


def add_bench(rows: List[dict], configs: Dict[str, str], args) -> None:
    """Step-time and peak-memory ratios to full fine-tuning, measured in one interleaved run."""
    bench_args = benchmark_peft.parse_args(
        list(configs.values()) + ['--img-size', str(args.img_size), '--batch', str(args.batch),
                                  '--iters', str(args.iters), '--warmup', str(args.warmup),
                                  '--infer-iters', '1', '--device', args.device] +
        (['--no-memory'] if args.no_memory else []))
    for row, r in zip(rows, benchmark_peft.run(bench_args)):
        row.update(step=r['step'], step_ratio=r['step_ratio'], peak_mem=r.get('peak_mem'),
                   mem_ratio=r.get('mem_ratio'))


def table(rows: List[dict]) -> str:
    fmt = benchmark_peft.fmt_bytes
    bench = 'step_ratio' in rows[0]
    head = ['method', 'trainable backbone', 'share', 'trainable-only file']
    head += ['step (s)', 'step vs full', 'memory vs full'] if bench else []
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '|'.join('---' for _ in head) + '|']
    for r in rows:
        cells = [r['method'], f"{r['backbone_trainable']:,}", f"{r['share']:.2%}",
                 fmt(r['ckpt_small'])]
        if bench:
            cells += [f"{r['step']:.2f}", f"{r['step_ratio']:.2f}x",
                      f"{r['mem_ratio']:.2f}x" if r.get('mem_ratio') else '-']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot(rows: List[dict], task: str, path: str) -> None:
    """Trainable share (log x) against the measured cost, one labelled point per method."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    bench = 'step_ratio' in rows[0]
    panels = [('step_ratio', 'training step time / full fine-tuning')] if bench else [
        ('ckpt_small', 'trainable-only checkpoint (MiB)')]
    if bench and rows[0].get('mem_ratio'):
        panels.append(('mem_ratio', 'peak memory / full fine-tuning'))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for r in rows:
            x = max(r['share'] * 100, 1e-3)  # the fixed backbone trains 0%
            y = r[key] / 2**20 if key == 'ckpt_small' else r[key]
            ax.scatter([x], [y], s=60, color='tab:red' if r['method'] == 'mona' else 'tab:blue')
            ax.annotate(r['method'], (x, y), textcoords='offset points', xytext=(5, 4),
                        fontsize=9)
        ax.set_xscale('log')
        ax.set_xlabel('trainable share of the backbone (%, log; fixed drawn at 0.001%)')
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f'{task}: trainable parameters vs. measured cost, one point per method')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    configs = task_configs(args.task, args.configs_dir, args.zoo_dir)
    rows = static_rows(configs)
    if args.bench:
        add_bench(rows, configs, args)
    print(table(rows))
    if args.plot:
        plot(rows, args.task, args.plot)
        print(f'plot written to {args.plot}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(task=args.task, args=vars(args), rows=rows), f, indent=1)
    return rows


if __name__ == '__main__':
    main()
