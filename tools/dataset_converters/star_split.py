"""Cut STAR's (or any DOTA-format set's) scenes into square patches with DOTA-style annotations.

    python tools/dataset_converters/star_split.py data/STAR/train data/split_ss_star/train

reads ``SRC/images/*.png`` with ``SRC/annfiles/<same>.txt`` and writes ``DST/images`` and
``DST/annfiles`` with patches named ``<scene>__<size>__<x>___<y>`` (mmrotate's DOTA split naming,
which ``PatchMergeDOTAMetric`` parses back). As mmrotate's ``tools/data/dota/split`` "ss" setting:
1024 windows with a gap (overlap) of 200, windows kept when the scene covers > 60 % of them, patches
at the scene's border padded to the full size with the mean pixel (104, 116, 124 in BGR), an object
kept in a patch when at least 70 % of its area is inside (its polygon as annotated, shifted), its
difficulty set to 2 when part of it is outside. Every patch is written, empty ones with an empty
annotation file (the training set filters those).
"""
import argparse
import glob
import os
import os.path as osp
import sys
import time
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from mmpeft.datasets import WindowReader, sliding_windows

PAD_BGR = (104, 116, 124)


def read_objects(path: str) -> List[Tuple[np.ndarray, str, str]]:
    """``[(polygon (4, 2), class name, difficulty)]`` of a DOTA-style annotation file."""
    objects = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 10:
                raise ValueError(f'{path}:{n}: expected "x1 y1 ... x4 y4 class difficulty", got '
                                 f'{line.strip()!r}')
            poly = np.array([float(v) for v in parts[:8]], dtype=np.float32).reshape(4, 2)
            objects.append((poly, parts[8], parts[9]))
    return objects


def inside_fraction(poly: np.ndarray, window: Sequence[int]) -> float:
    """Fraction of the (convex hull of the) polygon's area inside ``window = (x0, y0, x1, y1)``."""
    hull = cv2.convexHull(poly.astype(np.float32))
    area = cv2.contourArea(hull)
    if area <= 0:
        x, y = poly.mean(axis=0)
        return float(window[0] <= x < window[2] and window[1] <= y < window[3])
    x0, y0, x1, y1 = (float(v) for v in window)
    rect = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
    inter, _ = cv2.intersectConvexConvex(hull, rect)
    return float(inter) / area


def split_scene(img_path: str, ann_path: str, out_dir: str, size: int, gap: int,
                min_cover: float, iof_thr: float, ext: str = '.png') -> int:
    """Write the patches of one scene; returns their number."""
    reader = WindowReader(img_path)
    objects = read_objects(ann_path)
    name = osp.splitext(osp.basename(img_path))[0]
    windows = sliding_windows(reader.width, reader.height, size, gap, min_cover)
    for win in windows:
        x0, y0 = int(win[0]), int(win[1])
        stem = f'{name}__{size}__{x0}___{y0}'
        patch = reader.read(win, pad_value=PAD_BGR)
        if not cv2.imwrite(osp.join(out_dir, 'images', stem + ext), patch):
            raise OSError(f'could not write {stem}{ext} under {out_dir}/images')
        lines = []
        for poly, cls, diff in objects:
            frac = inside_fraction(poly, win)
            if frac < iof_thr:
                continue
            coords = ' '.join(f'{v:.1f}' for v in (poly - [x0, y0]).reshape(-1))
            lines.append(f'{coords} {cls} {diff if frac >= 1 - 1e-6 else 2}\n')
        with open(osp.join(out_dir, 'annfiles', stem + '.txt'), 'w') as f:
            f.writelines(lines)
    return len(windows)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='folder with images/ and annfiles/ (e.g. data/STAR/train)')
    p.add_argument('dst', help='output folder (e.g. data/split_ss_star/train)')
    p.add_argument('--size', type=int, default=1024, help='patch size (default 1024)')
    p.add_argument('--gap', type=int, default=200, help='overlap of patches (default 200)')
    p.add_argument('--min-cover', type=float, default=0.6,
                   help='keep a window when the scene covers more than this (default 0.6)')
    p.add_argument('--iof-thr', type=float, default=0.7,
                   help='keep an object in a patch when this much of it is inside (default 0.7)')
    return p.parse_args(argv)


def main(argv: Sequence[str] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    images = sorted(glob.glob(osp.join(args.src, 'images', '*.png')))
    if not images:
        raise SystemExit(f'no .png images in {osp.join(args.src, "images")}')
    for sub in ('images', 'annfiles'):
        os.makedirs(osp.join(args.dst, sub), exist_ok=True)
    start, total = time.time(), 0
    for i, img_path in enumerate(images, 1):
        stem = osp.splitext(osp.basename(img_path))[0]
        ann_path = osp.join(args.src, 'annfiles', stem + '.txt')
        if not osp.isfile(ann_path):
            raise SystemExit(f'no annotation file {ann_path} for {img_path}')
        n = split_scene(img_path, ann_path, args.dst, args.size, args.gap, args.min_cover,
                        args.iof_thr)
        total += n
        print(f'[{i}/{len(images)}] {stem}: {n} patches ({total} in all, '
              f'{time.time() - start:.1f} s)', flush=True)
    print(f'wrote {total} patches of {len(images)} scenes to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
