"""Sliding windows over huge images, read window by window from the file.

:func:`sliding_windows` places the windows as STAR-MMRotate's crop inference and mmrotate's DOTA
image split do (``get_sliding_window``): a window of ``size`` every ``size - overlap`` pixels, the
last one of a row / column moved back to end at the image border, and only windows that the image
covers by more than ``min_cover`` of their area kept. :class:`WindowReader` reads one window at a
time: from a ``.npy`` file through a memory map (only the window's pages are read, and unmapped
after the copy), from any other
image file once decoded as uint8 (what ``cv2.imread`` needs: ``H x W x 3`` bytes, never a float
copy of the whole image).
"""
import math
import os.path as osp
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

Window = Tuple[int, int, int, int]


def sliding_windows(width: int, height: int, size: int, overlap: int,
                    min_cover: float = 0.6) -> np.ndarray:
    """``(N, 4)`` int windows ``(x0, y0, x1, y1)`` (``x1 - x0 == y1 - y0 == size``) covering a
    ``width x height`` image, x-major as the references order them.

    A window may stick out of the image (when the image is smaller than ``size``); windows the
    image covers by ``min_cover`` of their area or less are dropped, unless none is covered more,
    then the best covered ones are kept.
    """
    if size <= overlap or overlap < 0:
        raise ValueError(f'need 0 <= overlap < size, got size {size}, overlap {overlap}')
    if width < 1 or height < 1:
        raise ValueError(f'empty image: {width} x {height}')
    step = size - overlap

    def starts(length: int) -> list:
        n = 1 if length <= size else math.ceil((length - size) / step + 1)
        pos = [step * i for i in range(n)]
        if len(pos) > 1 and pos[-1] + size > length:
            pos[-1] = length - size
        return pos

    xy = np.array([(x, y) for x in starts(width) for y in starts(height)], dtype=np.int64)
    windows = np.concatenate([xy, xy + size], axis=1)
    inside_w = np.minimum(windows[:, 2], width) - windows[:, 0]
    inside_h = np.minimum(windows[:, 3], height) - windows[:, 1]
    cover = inside_w * inside_h / float(size * size)
    if not (cover > min_cover).any():
        cover[np.abs(cover - cover.max()) < 0.01] = 1.0
    return windows[cover > min_cover]


class WindowReader:
    """Reads windows of an image file as BGR uint8 ``(h, w, 3)`` arrays (``cv2``'s order, as
    mmcv's ``LoadImageFromFile``), padding what lies outside the image with ``pad_value``.

    Args:
        path: A ``.npy`` file of an ``(H, W, 3)`` uint8 BGR array (memory-mapped: a window is
            read from disk when asked for), or an image file ``cv2.imread`` decodes (PNG, JPEG,
            TIFF, ...; decoded once as uint8, ``H x W x 3`` bytes).
    """

    def __init__(self, path: str) -> None:
        if not osp.isfile(path):
            raise FileNotFoundError(f'image not found: {path}')
        self.path = path
        self.memory_mapped = path.endswith('.npy')
        if self.memory_mapped:
            img = np.load(path, mmap_mode='r')
        else:
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f'could not decode the image {path} (corrupt or not an image)')
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f'{path}: expected an (H, W, 3) uint8 image, got '
                             f'{img.shape} {img.dtype}')
        self.height, self.width = int(img.shape[0]), int(img.shape[1])
        self.image = None if self.memory_mapped else img

    def read(self, window: Sequence[int], pad_value: Optional[Sequence[int]] = None) -> np.ndarray:
        """The pixels of ``window = (x0, y0, x1, y1)``; with ``pad_value`` (one value per channel)
        the full window size, else only the part inside the image."""
        x0, y0, x1, y1 = (int(v) for v in window)
        if x0 < 0 or y0 < 0 or x0 >= self.width or y0 >= self.height or x1 <= x0 or y1 <= y0:
            raise ValueError(f'window {window} does not start inside the '
                             f'{self.width} x {self.height} image {self.path}')
        # a fresh map per window, unmapped after the copy: the pages read do not stay resident
        img = np.load(self.path, mmap_mode='r') if self.memory_mapped else self.image
        part = np.array(img[y0:min(y1, self.height), x0:min(x1, self.width)])
        del img
        if pad_value is None or part.shape[:2] == (y1 - y0, x1 - x0):
            return np.ascontiguousarray(part)
        out = np.empty((y1 - y0, x1 - x0, 3), dtype=np.uint8)
        out[...] = np.asarray(pad_value, dtype=np.uint8)
        out[:part.shape[0], :part.shape[1]] = part
        return out
