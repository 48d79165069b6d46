"""Decode huge scenes once into ``.npy`` files, which the sliding-window loops memory-map.

    python tools/dataset_converters/images_to_npy.py data/STAR/test/images data/STAR/test/npy

then test with ``--cfg-options test_cfg.npy_dir=data/STAR/test/npy`` (and ``val_cfg.npy_dir``):
each window is then read from disk, so a loop holds only the windows of one forward in memory
instead of the decoded scene (``H x W x 3`` bytes, 2.6 GB for STAR's 27,860 x 31,096 one). The
files are the BGR uint8 arrays ``cv2.imread`` returns (as large as the decoded scenes); this
conversion itself decodes one scene at a time.
"""
import argparse
import glob
import os
import os.path as osp
import sys
import time
from typing import Sequence

import cv2
import numpy as np


def main(argv: Sequence[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='folder of images (.png, .jpg, .tif)')
    p.add_argument('dst', help='output folder of <name>.npy files')
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    files = sorted(f for ext in ('png', 'jpg', 'tif', 'tiff')
                   for f in glob.glob(osp.join(args.src, f'*.{ext}')))
    if not files:
        raise SystemExit(f'no images in {args.src}')
    os.makedirs(args.dst, exist_ok=True)
    start = time.time()
    for i, path in enumerate(files, 1):
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f'could not decode {path} (corrupt or not an image)')
        name = osp.splitext(osp.basename(path))[0]
        np.save(osp.join(args.dst, name + '.npy'), img)
        print(f'[{i}/{len(files)}] {name}: {img.shape[1]} x {img.shape[0]} '
              f'({time.time() - start:.1f} s)', flush=True)
        del img
    return 0


if __name__ == '__main__':
    sys.exit(main())
