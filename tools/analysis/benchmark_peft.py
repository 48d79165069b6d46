"""Benchmark PEFT configs: training step time, memory, optimizer state, checkpoint bytes.

    python tools/analysis/benchmark_peft.py CONFIG [CONFIG ...] --img-size 512 --batch 2 \
        --iters 3 --warmup 1 [--device cpu|cuda] [--json OUT.json]

Every model is built once (random init: ``init_cfg`` is ignored) and trained on the same synthetic
batch: random images with a few objects per image, as boxes and masks (mmdet), a label map
(mmseg) or rotated boxes (mmrotate). After ``--warmup``
iterations of each model, ``--iters`` rounds time one training iteration of every model in turn
(A, B, C, A, B, C, ...) so that load drift of a shared machine hits all models alike; the median is
reported. Peak memory is measured per model in a fresh subprocess (same warm-up and one step):
``torch.cuda.max_memory_allocated`` on CUDA, the child's peak RSS (``ru_maxrss``) on CPU.

A config may hold ``benchmark = dict(input_grad=True)``: the preprocessed input image requires
grad, so that with a wholly frozen backbone (``PlainSwinTransformer(trainable=[])``) backward
still runs through it (input gradients only): the "frozen-backbone floor".

Columns: trainable parameters and share of the model; median step (s) and its ratio to the first
config; peak memory; optimizer-state bytes (AdamW moments of the trained parameters); full and
trainable-only (trainable parameters + buffers) checkpoint bytes; inference latency (median of
``--infer-iters`` forward passes in eval mode, same batch).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, List

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('configs', nargs='+')
    p.add_argument('--img-size', type=int, default=512)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--iters', type=int, default=3, help='timed rounds (one step per model each)')
    p.add_argument('--warmup', type=int, default=1, help='untimed steps per model first')
    p.add_argument('--infer-iters', type=int, default=2)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                   choices=['cpu', 'cuda'])
    p.add_argument('--no-memory', action='store_true', help='skip the per-model subprocesses')
    p.add_argument('--json', help='also write the results to this JSON file')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name, low in (('batch', 1), ('img_size', 32), ('iters', 1), ('warmup', 0),
                      ('infer_iters', 1)):
        if getattr(args, name) < low:
            p.error(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(args, name)}")
    return args


def num_classes_of(model_cfg) -> int:
    """The smallest ``num_classes`` in a detector config (its classification heads)."""
    found = []

    def visit(obj) -> None:
        if isinstance(obj, dict):
            if isinstance(obj.get('num_classes'), int):
                found.append(obj['num_classes'])
            for v in obj.values():
                visit(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                visit(v)

    visit(model_cfg)
    if not found:
        raise ValueError('the config has no num_classes: benchmark_peft builds batches for '
                         'mmdet, mmseg and mmrotate models')
    return min(found)


# ----------------------------------------------------------------------------------- building
def build(config: str, device: str):
    """Build the model and its optimizer wrapper; apply the config's ``benchmark`` options."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS, DefaultScope, init_default_scope

    import mmpeft  # noqa: F401  (compat + registration)
    from mmpeft.models.peft import attach_aux_losses

    cfg = Config.fromfile(config)
    scope = cfg.get('default_scope', 'mmdet')
    if DefaultScope.get_current_instance() is None or \
            DefaultScope.get_current_instance().scope_name != scope:
        init_default_scope(scope)
    bench = dict(cfg.get('benchmark', {}) or {})
    model = MODELS.build(cfg.model)
    attach_aux_losses(model)  # as every runner does: a method's auxiliary losses are trained too
    model.to(device)
    model.train()
    if 'freeze' in bench:
        raise ValueError(f"{config}: benchmark.freeze is gone: freeze the backbone in the model, "
                         "e.g. PlainSwinTransformer(trainable=[])")
    optim_cfg = dict(cfg.optim_wrapper)
    if device == 'cpu' and optim_cfg.get('type') == 'AmpOptimWrapper':  # mmengine: CUDA only
        optim_cfg.update(type='OptimWrapper')
        optim_cfg.pop('loss_scale', None)
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    return model, optim_wrapper, bench, cfg


def task_of(cfg) -> str:
    """``'det'``, ``'seg'`` or ``'rot'`` from the config's ``default_scope``."""
    return {'mmdet': 'det', 'mmseg': 'seg', 'mmrotate': 'rot'}[cfg.get('default_scope', 'mmdet')]


def make_batch(img_size: int, batch: int, seed: int = 0, n_boxes: int = 4,
               num_classes: int = 80, task: str = 'det') -> dict:
    """A fixed synthetic training batch of ``task``: random images with a few objects each,
    labels < ``num_classes``: boxes and bitmap masks (``'det'``), a label map (``'seg'``) or
    rotated boxes (``'rot'``)."""
    import numpy as np
    from mmengine.structures import InstanceData, PixelData

    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    shape = (img_size, img_size)
    meta = dict(img_shape=shape, ori_shape=shape, scale_factor=(1., 1.), pad_shape=shape)
    for _ in range(batch):
        inputs.append((torch.rand(3, img_size, img_size, generator=g) * 255).to(torch.uint8))
        xy = torch.rand(n_boxes, 2, generator=g) * img_size * 0.6
        wh = torch.rand(n_boxes, 2, generator=g) * img_size * 0.3 + 16
        boxes = torch.cat([xy, (xy + wh).clamp(max=img_size - 1)], 1)
        labels = torch.randint(0, num_classes, (n_boxes, ), generator=g)
        if task == 'seg':
            from mmseg.structures import SegDataSample
            label_map = torch.zeros(1, img_size, img_size, dtype=torch.long)
            for (x1, y1, x2, y2), c in zip(boxes.round().long().tolist(), labels.tolist()):
                label_map[0, y1:y2, x1:x2] = c
            s = SegDataSample(metainfo=meta)
            s.gt_sem_seg = PixelData(data=label_map)
        elif task == 'rot':
            from mmdet.structures import DetDataSample
            from mmrotate.structures.bbox import RotatedBoxes
            centre, size = (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]
            angle = (torch.rand(n_boxes, 1, generator=g) - 0.5) * np.pi / 2
            s = DetDataSample(metainfo=meta)
            s.gt_instances = InstanceData(bboxes=RotatedBoxes(torch.cat([centre, size, angle], 1)),
                                          labels=labels)
        else:
            from mmdet.structures import DetDataSample
            from mmdet.structures.mask import BitmapMasks
            masks = np.zeros((n_boxes, img_size, img_size), dtype=np.uint8)
            for i, (x1, y1, x2, y2) in enumerate(boxes.round().long().tolist()):
                masks[i, y1:y2, x1:x2] = 1
            s = DetDataSample(metainfo=meta)
            s.gt_instances = InstanceData(bboxes=boxes, labels=labels,
                                          masks=BitmapMasks(masks, img_size, img_size))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def train_step(model, optim_wrapper, batch: dict, bench: dict) -> None:
    with optim_wrapper.optim_context(model):
        data = model.data_preprocessor(batch, True)
        if bench.get('input_grad'):
            data['inputs'] = data['inputs'].detach().requires_grad_(True)
        losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    optim_wrapper.update_params(loss)


def sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def infer(model, batch: dict) -> None:
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        model(**data, mode='predict')
    model.train()


# ----------------------------------------------------------------------------------- measuring
def optimizer_state_bytes(optim_wrapper) -> int:
    total = 0
    for state in optim_wrapper.optimizer.state.values():
        for v in state.values():
            if torch.is_tensor(v):
                total += v.numel() * v.element_size()
    return total


def static_stats(model) -> Dict[str, float]:
    from mmpeft.engine.checkpoint import state_dict_bytes, trainable_state_dict
    from mmpeft.models.utils import count_parameters
    counts = count_parameters(model)
    return dict(params=counts['total'], trainable=counts['trainable'],
                share=counts['trainable'] / counts['total'],
                ckpt_full=state_dict_bytes(model.state_dict()),
                ckpt_small=state_dict_bytes(trainable_state_dict(model)))


def child_main(args) -> None:
    """Fresh process: build one model, warm up, one step; print peak memory as JSON."""
    torch.manual_seed(args.seed)
    model, optim_wrapper, bench, cfg = build(args.configs[0], args.device)
    batch = make_batch(args.img_size, args.batch, args.seed,
                       num_classes=num_classes_of(cfg.model), task=task_of(cfg))
    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    for _ in range(max(args.warmup, 0) + 1):
        train_step(model, optim_wrapper, batch, bench)
    sync(args.device)
    out = dict(peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    if args.device == 'cuda':
        out['cuda_max_allocated'] = torch.cuda.max_memory_allocated()
    print('BENCH_CHILD ' + json.dumps(out), flush=True)


def peak_memory(config: str, args) -> Dict[str, int]:
    cmd = [sys.executable, os.path.abspath(__file__), config, '--child',
           '--img-size', str(args.img_size), '--batch', str(args.batch),
           '--warmup', str(args.warmup), '--device', args.device, '--seed', str(args.seed)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=os.getcwd())
    for line in res.stdout.splitlines():
        if line.startswith('BENCH_CHILD '):
            return json.loads(line[len('BENCH_CHILD '):])
    raise RuntimeError(f'memory subprocess for {config} failed:\n{res.stderr[-3000:]}')


def run(args) -> List[dict]:
    results = []
    if not args.no_memory:
        mem = {c: peak_memory(c, args) for c in args.configs}
    torch.manual_seed(args.seed)
    entries = []
    for c in args.configs:
        model, optim_wrapper, bench, cfg = build(c, args.device)
        entries.append(dict(config=c, model=model, optim=optim_wrapper, bench=bench, times=[],
                            num_classes=num_classes_of(cfg.model), task=task_of(cfg)))
    tasks = {e['task'] for e in entries}
    if len(tasks) > 1:
        raise ValueError(f'the configs are of different tasks ({sorted(tasks)}): benchmark '
                         'one task at a time')
    # one batch for every model: labels valid for the model with the fewest classes
    batch = make_batch(args.img_size, args.batch, args.seed,
                       num_classes=min(e['num_classes'] for e in entries), task=tasks.pop())
    for e in entries:
        for _ in range(args.warmup):
            train_step(e['model'], e['optim'], batch, e['bench'])
    for _ in range(args.iters):  # interleaved: A, B, C, A, B, C, ...
        for e in entries:
            e['times'].append(
                timed(lambda: train_step(e['model'], e['optim'], batch, e['bench']),
                      args.device))
    for e in entries:
        lat = [timed(lambda: infer(e['model'], batch), args.device)
               for _ in range(max(args.infer_iters, 1))]
        r = dict(config=os.path.basename(e['config']), **static_stats(e['model']),
                 step=statistics.median(e['times']), steps=e['times'],
                 optim_state=optimizer_state_bytes(e['optim']), infer=statistics.median(lat))
        if not args.no_memory:
            m = mem[e['config']]
            r['peak_mem'] = m.get('cuda_max_allocated', m['peak_rss'])
            r['peak_rss'] = m['peak_rss']
        results.append(r)
    for r in results:
        r['step_ratio'] = r['step'] / results[0]['step']
        if 'peak_mem' in r:
            r['mem_ratio'] = r['peak_mem'] / results[0]['peak_mem']
    return results


def fmt_bytes(n: float) -> str:
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if abs(n) < 1024 or unit == 'GiB':
            return f'{n:.1f} {unit}' if unit != 'B' else f'{int(n)} B'
        n /= 1024
    return str(n)


def table(results: List[dict], device: str) -> str:
    mem_name = 'peak CUDA alloc' if device == 'cuda' else 'peak RSS'
    head = ['config', 'trainable', 'share', 'step (s)', 'ratio', mem_name, 'mem ratio',
            'optim state', 'ckpt full', 'ckpt trainable', 'infer (s)']
    rows = []
    for r in results:
        rows.append([
            r['config'], f"{r['trainable']:,}", f"{r['share']:.2%}", f"{r['step']:.2f}",
            f"{r['step_ratio']:.2f}x",
            fmt_bytes(r['peak_mem']) if 'peak_mem' in r else '-',
            f"{r['mem_ratio']:.2f}x" if 'mem_ratio' in r else '-',
            fmt_bytes(r['optim_state']), fmt_bytes(r['ckpt_full']), fmt_bytes(r['ckpt_small']),
            f"{r['infer']:.2f}"
        ])
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '|'.join('---' for _ in head) + '|']
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines)


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return []
    results = run(args)
    print(table(results, args.device))
    print('step times (s): ' + '; '.join(
        f"{r['config']}: {', '.join(f'{t:.2f}' for t in r['steps'])}" for r in results))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), results=results), f, indent=1)
    return results


if __name__ == '__main__':
    main()
