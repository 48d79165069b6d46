"""Serve several tasks from one frozen base model in one process, and draw each task's predictions.

    python tools/misc/multitask_demo.py IMAGE [IMAGE ...] --out-dir DIR \\
        --task CONFIG CHECKPOINT [--task CONFIG CHECKPOINT ...]

Every CHECKPOINT is a trainable-only file (``TrainableCheckpointHook``) trained on the same base
checkpoint (checked by sha256): e.g. a COCO Mask R-CNN, an ADE20K UperNet and a DOTA detector with
Mona on the same Swin. The base weights are read once and every task's model uses the same
tensors; each task's predictions are drawn to ``DIR/<task>/<image name>.png``.
"""
import argparse
import os
import os.path as osp
import time
from typing import List

from mmpeft.apis import SharedBaseModels, build_visualizer, draw_prediction
from mmpeft.apis.multitask import default_task_name

from image_demo import add_drawing_args, out_files, prepare


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--task', nargs=2, action='append', required=True,
                        metavar=('CONFIG', 'CHECKPOINT'), help='a task: config and checkpoint')
    add_drawing_args(parser)
    return parser.parse_args(argv)


def task_names(configs: List[str]) -> List[str]:
    names = [default_task_name(c) for c in configs]
    return [f'{n}_{i}' if names.count(n) > 1 else n for i, n in enumerate(names)]


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare('multitask_demo', args)
    tasks = SharedBaseModels(args.device)
    names = task_names([c for c, _ in args.task])
    for name, (config, checkpoint) in zip(names, args.task):
        start = time.perf_counter()
        tasks.add(name, config, checkpoint)
        print(f'loaded {name} in {time.perf_counter() - start:.1f} s: '
              f'{tasks.task_bytes(name) / 2**20:.1f} MiB of its own', flush=True)
    print(f'{len(tasks)} tasks share {tasks.shared_bytes() / 2**20:.1f} MiB of base weights',
          flush=True)
    for name in names:
        visualizer = build_visualizer(tasks.models[name])
        os.makedirs(osp.join(args.out_dir, name), exist_ok=True)
        outs = out_files(args.images, osp.join(args.out_dir, name))
        for img, out in zip(args.images, outs):
            pred = tasks.predict(img, [name])[name]
            draw_prediction(visualizer, img, pred, out, args.score_thr)
            print(f'{name}: {img} -> {out}', flush=True)


if __name__ == '__main__':
    main()
