"""Draw a trained model's predictions on images.

    python tools/misc/image_demo.py CONFIG CHECKPOINT IMAGE [IMAGE ...] --out-dir DIR

Detection and instance segmentation (mmdet configs), semantic segmentation (mmseg) and rotated
detection (mmrotate): the library's own visualizer draws boxes, masks or the class map onto each
image, written to DIR under the image's file name. CHECKPOINT may be a trainable-only file
(``TrainableCheckpointHook``): the base weights its config names are loaded and checked (sha256).
"""
import argparse
import os
import os.path as osp
import time
from typing import List

from mmengine.config import DictAction
from mmengine.logging import MMLogger

from mmpeft.apis import build_visualizer, draw_prediction, inference_model, init_model


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the model config')
    parser.add_argument('checkpoint', help='checkpoint file (trainable-only or full)')
    add_drawing_args(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.test_cfg.rcnn.score_thr=0.1')
    return parser.parse_args(argv)


def add_drawing_args(parser: argparse.ArgumentParser) -> None:
    """The images and drawing options this tool shares with ``multitask_demo.py``."""
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--out-dir', required=True, help='where the drawn images are written')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='boxes with a lower score are not drawn (detection)')
    parser.add_argument('--verbose', action='store_true',
                        help="log mmengine's INFO messages (every weight's initialisation)")


def out_files(images: List[str], out_dir: str) -> List[str]:
    """``out_dir/<image name>.png`` for each image (a counter is added if two names collide)."""
    names, seen = [], {}
    for img in images:
        stem = osp.splitext(osp.basename(img))[0]
        seen[stem] = seen.get(stem, 0) + 1
        names.append(osp.join(out_dir, stem + (f'_{seen[stem] - 1}' if seen[stem] > 1 else '')
                              + '.png'))
    return names


def prepare(tool: str, args: argparse.Namespace) -> None:
    """mmengine's log at ``--verbose``'s level; every image must exist (else exit naming them)."""
    MMLogger.get_instance(f'{tool}-{time.time()}', log_level='INFO' if args.verbose else 'WARNING')
    missing = [p for p in args.images if not osp.isfile(p)]
    if missing:
        raise SystemExit(f'{tool}: image file(s) not found: {missing}')


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare('image_demo', args)
    model = init_model(args.config, args.checkpoint, args.device, args.cfg_options)
    visualizer = build_visualizer(model)
    os.makedirs(args.out_dir, exist_ok=True)
    for i, (img, out) in enumerate(zip(args.images, out_files(args.images, args.out_dir))):
        pred = inference_model(model, img)
        draw_prediction(visualizer, img, pred, out, args.score_thr)
        if 'pred_instances' in pred:
            n = int((pred.pred_instances.scores >= args.score_thr).sum())
            what = f'{n} objects with score >= {args.score_thr}'
        else:
            what = f'{len(pred.pred_sem_seg.data.unique())} classes in the map'
        print(f'[{i + 1}/{len(args.images)}] {img}: {what} -> {out}', flush=True)


if __name__ == '__main__':
    main()
