"""The main job behind ``make demo``: synthetic COCO data -> train a small Mona-Swin Mask R-CNN
with tools/train.py -> evaluate it with tools/test.py -> report AP, parameters and file paths ->
draw its predictions on a few validation images with tools/misc/image_demo.py (and one picture of
them side by side).

Exits non-zero if the training loss did not fall or the AP is not above zero.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Dict, List

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'demo', 'mask-rcnn_swin-tiny-mona_fpn_synthetic-coco.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'demo'))
    parser.add_argument('--data-root', default=osp.join(REPO, 'data', 'synthetic_coco'))
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--num-train', type=int, default=64)
    parser.add_argument('--num-val', type=int, default=16)
    parser.add_argument('--log-interval', type=int, default=5)
    parser.add_argument('--num-vis', type=int, default=3, help='validation images to draw')
    return parser.parse_args()


def run(cmd: List[str]) -> str:
    """Run a tool, streaming its output (mmengine's progress log) and returning it."""
    print('$', ' '.join(cmd), flush=True)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
               PYTHONUNBUFFERED='1',
               PYTHONWARNINGS='ignore:pkg_resources is deprecated:UserWarning')
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        sys.stdout.write(line)
        lines.append(line)
    if proc.wait() != 0:
        raise SystemExit(f'demo: {cmd[1]} failed with exit code {proc.returncode}')
    return ''.join(lines)


def train_losses(work_dir: str) -> List[float]:
    """The logged training losses, in order, from mmengine's scalars.json."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise SystemExit(f'demo: no training log under {work_dir}')
    with open(files[-1]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r['loss'] for r in records if 'loss' in r]


def test_metrics(output: str) -> Dict[str, float]:
    return {k: float(v) for k, v in re.findall(r'(coco/\w+): (-?[0-9.]+)', output)}


def draw_predictions(ckpt: str, data_root: str, out_dir: str, num: int) -> str:
    """Draw the model's predictions on the first ``num`` validation images (image_demo.py) and
    put them side by side in ``out_dir/predictions.jpg``; returns that path."""
    import cv2
    import mmcv
    import numpy as np
    images = sorted(glob.glob(osp.join(data_root, 'val2017', '*')))[:num]
    if not images:
        raise SystemExit(f'demo: no validation images under {data_root}val2017')
    run([sys.executable, osp.join(REPO, 'tools', 'misc', 'image_demo.py'), CONFIG, ckpt,
         *images, '--out-dir', out_dir, '--score-thr', '0.5'])
    drawn = [mmcv.imread(osp.join(out_dir, osp.splitext(osp.basename(p))[0] + '.png'))
             for p in images]
    height = min(d.shape[0] for d in drawn)
    row = np.concatenate([mmcv.imresize(d, (round(d.shape[1] * height / d.shape[0]), height))
                          for d in drawn], axis=1)
    picture = osp.join(out_dir, 'predictions.jpg')
    mmcv.imwrite(row, picture, params=[cv2.IMWRITE_JPEG_QUALITY, 85])
    return picture


def main() -> None:
    args = parse_args()
    py = sys.executable
    data_root = args.data_root.rstrip('/') + '/'
    if not osp.isfile(osp.join(data_root, 'annotations', 'instances_val2017.json')):
        run([py, osp.join(REPO, 'tools', 'misc', 'make_synthetic_data.py'), '--format', 'coco',
             '--out', data_root, '--num-train', str(args.num_train), '--num-val',
             str(args.num_val)])
    options = [
        '--cfg-options', f'data_root={data_root}',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'val_evaluator.ann_file={data_root}annotations/instances_val2017.json',
        f'test_evaluator.ann_file={data_root}annotations/instances_val2017.json',
        f'train_cfg.max_epochs={args.epochs}', f'train_cfg.val_interval={args.epochs}',
        f'default_hooks.checkpoint.interval={args.epochs}',
        f'default_hooks.logger.interval={args.log_interval}',
        f'param_scheduler.1.end={args.epochs}',
        f'param_scheduler.1.milestones=[{max(1, int(args.epochs * 0.75))}]',
    ]
    table = run([py, osp.join(REPO, 'tools', 'analysis', 'count_params.py'), CONFIG])
    run([py, osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', args.work_dir] + options)
    ckpt = osp.join(args.work_dir, f'epoch_{args.epochs}.pth')
    test_out = run([py, osp.join(REPO, 'tools', 'test.py'), CONFIG, ckpt, '--work-dir',
                    osp.join(args.work_dir, 'test')] + options)

    picture = draw_predictions(ckpt, data_root, osp.join(args.work_dir, 'vis'), args.num_vis)

    losses = train_losses(args.work_dir)
    metrics = test_metrics(test_out)
    bbox, segm = metrics.get('coco/bbox_mAP', 0.0), metrics.get('coco/segm_mAP', 0.0)
    if len(losses) < 2:
        raise SystemExit(f'demo: only {len(losses)} training loss(es) logged')
    k = max(1, len(losses) // 4)  # mean of the first and of the last quarter of the logs
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    print('\n' + '=' * 72)
    print('mmpeft demo: Mona-Swin Mask R-CNN on synthetic COCO shapes (CPU)')
    print(table.strip())
    print(f'training loss: {first:.3f} (first logs) -> {last:.3f} (last logs)')
    print(f'bbox AP: {bbox:.3f}   bbox AP50: {metrics.get("coco/bbox_mAP_50", 0.0):.3f}')
    print(f'segm AP: {segm:.3f}   segm AP50: {metrics.get("coco/segm_mAP_50", 0.0):.3f}')
    print(f'checkpoint: {ckpt}')
    print(f'training logs: {args.work_dir}   test logs: {osp.join(args.work_dir, "test")}')
    print(f'predictions drawn: {picture}')
    print('=' * 72)
    if not last < first:
        raise SystemExit('demo: the training loss did not fall')
    if not (bbox > 0 and segm > 0):
        raise SystemExit('demo: AP is zero')


if __name__ == '__main__':
    main()
