"""Whole-image evaluation of huge images: sliding-window inference read from the file.

STAR-MMRotate's ``*Crop`` detectors normalise the whole test image on the device and cut 1024 x
1024 windows (overlap 200) out of it (27,860 x 31,096 x 3 float32 = 10.4 GB). Here the test
pipeline loads only the annotations; :func:`predict_sliding` reads each window from the file
(:class:`~mmpeft.datasets.WindowReader`), pads it to the window size with the rounded mean pixel
(what the reference's padding value amounts to), runs ``batch_size`` windows at a time through
the model's own ``test_step`` (its data preprocessor normalises just them) and merges the windows'
detections (:func:`~mmpeft.evaluation.merge_windows`: class-agnostic rotated NMS, IoU 0.4). The
loops hand the merged whole-image prediction, with the whole image's annotations, to the usual
evaluator (``DOTAMetric``).

Config::

    test_cfg = dict(type='SlidingWindowTestLoop', window=1024, overlap=200)
    val_cfg = dict(type='SlidingWindowValLoop', window=1024, overlap=200)
"""
import math
import os.path as osp
import time
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, ValLoop
from mmengine.runner.amp import autocast
from mmengine.structures import InstanceData

from mmpeft.datasets import WindowReader, sliding_windows
from mmpeft.evaluation import Dets, merge_windows
from mmpeft.registry import register_loop


def mean_pad_value(model: torch.nn.Module) -> List[int]:
    """The data preprocessor's mean rounded to uint8, in the channel order of the loaded image
    (BGR when the preprocessor converts BGR to RGB): after normalisation it is ~0, as the
    reference's padding."""
    model = model.module if is_model_wrapper(model) else model
    pre = getattr(model, 'data_preprocessor', None)
    if pre is None or not getattr(pre, '_enable_normalize', False):
        return [0, 0, 0]
    mean = [int(round(float(v))) for v in pre.mean.flatten()]
    return mean[::-1] if getattr(pre, '_channel_conversion', False) else mean


def window_layout(width: int, height: int, window: int = 1024, overlap: int = 200,
                  min_cover: float = 0.6, pad_size_divisor: int = 64) -> np.ndarray:
    """The windows of a ``width x height`` image, laid out on the image padded to
    ``pad_size_divisor`` (the reference pads the whole image to /64 before cutting it)."""
    d = max(1, int(pad_size_divisor))
    return sliding_windows(math.ceil(width / d) * d, math.ceil(height / d) * d, window, overlap,
                           min_cover)


@torch.no_grad()
def predict_windows(model: torch.nn.Module, reader: WindowReader, windows: np.ndarray,
                    batch_size: int = 4, step: str = 'test_step', fp16: bool = False,
                    log_every: int = 0) -> List[Dets]:
    """Detections of ``model`` in each window (window coordinates), ``batch_size`` at a time.

    Each window is read from the file, padded to its full size with the mean pixel and predicted
    without resizing (``scale_factor`` 1) by the model's own ``step`` (data preprocessor
    included).
    """
    from mmdet.structures import DetDataSample
    pad = mean_pad_value(model)
    run = getattr(model, step)
    dets: List[Dets] = []
    start = time.time()
    for i in range(0, len(windows), batch_size):
        chunk = windows[i:i + batch_size]
        inputs, samples = [], []
        for win in chunk:
            pixels = reader.read(win, pad_value=pad)
            shape = pixels.shape[:2]
            inputs.append(torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))))
            samples.append(DetDataSample(metainfo=dict(
                img_path=reader.path, img_shape=shape, ori_shape=shape, scale_factor=(1.0, 1.0))))
        with autocast(enabled=fp16):
            outputs = run(dict(inputs=inputs, data_samples=samples))
        for out in outputs:
            pred = out.pred_instances
            boxes = pred.bboxes.tensor if hasattr(pred.bboxes, 'tensor') else pred.bboxes
            dets.append((boxes.float().cpu(), pred.scores.float().cpu(), pred.labels.cpu()))
        done = i + len(chunk)
        if log_every and (done // log_every > i // log_every or done == len(windows)):
            print_log(f'{reader.path}: {done}/{len(windows)} windows '
                      f'({time.time() - start:.1f} s)', logger='current')
    return dets


def predict_sliding(model: torch.nn.Module, path: str, window: int = 1024, overlap: int = 200,
                    min_cover: float = 0.6, batch_size: int = 4, iou_thr: float = 0.4,
                    pad_size_divisor: int = 64, step: str = 'test_step', fp16: bool = False,
                    log_every: int = 0) -> InstanceData:
    """Detections of ``model`` on the whole image at ``path``: :func:`window_layout`,
    :func:`predict_windows`, then :func:`~mmpeft.evaluation.merge_windows` at ``iou_thr``.

    Returns:
        ``InstanceData`` with ``bboxes`` (mmrotate ``RotatedBoxes``), ``scores``, ``labels``.
    """
    from mmrotate.structures import RotatedBoxes
    reader = WindowReader(path)
    windows = window_layout(reader.width, reader.height, window, overlap, min_cover,
                            pad_size_divisor)
    dets = predict_windows(model, reader, windows, batch_size, step, fp16, log_every)
    offsets = [(int(w[0]), int(w[1])) for w in windows]
    boxes, scores, labels = merge_windows(dets, offsets, iou_thr)
    return InstanceData(bboxes=RotatedBoxes(boxes), scores=scores, labels=labels)


class _SlidingWindowMixin:
    """Replaces the model call of a val / test iteration by :func:`predict_sliding` on each
    whole image of the batch.

    Args:
        window, overlap, min_cover, batch_size, iou_thr, pad_size_divisor: As
            :func:`predict_sliding` (defaults: STAR-MMRotate's crop inference).
        log_every: Log the progress through an image every this many windows (0: never).
        npy_dir: Read each image's pixels from ``<npy_dir>/<image name>.npy`` (memory-mapped:
            only the windows are read, see ``tools/dataset_converters/images_to_npy.py``)
            instead of decoding the image file.
    """

    _step = 'test_step'

    def __init__(self, runner, dataloader, evaluator, fp16: bool = False, window: int = 1024,
                 overlap: int = 200, min_cover: float = 0.6, batch_size: int = 4,
                 iou_thr: float = 0.4, pad_size_divisor: int = 64, log_every: int = 50,
                 npy_dir: Optional[str] = None) -> None:
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        if window < 32 or not 0 <= overlap < window:
            raise ValueError(f'need window >= 32 and 0 <= overlap < window, got {window}, '
                             f'{overlap}')
        if npy_dir is not None and not osp.isdir(npy_dir):
            raise FileNotFoundError(f'npy_dir is not a folder: {npy_dir}')
        self.npy_dir = npy_dir
        self.window_cfg = dict(window=window, overlap=overlap, min_cover=min_cover,
                               batch_size=batch_size, iou_thr=iou_thr,
                               pad_size_divisor=pad_size_divisor, log_every=log_every)

    def pixels_of(self, img_path: str) -> str:
        """The file the pixels of ``img_path`` are read from."""
        if self.npy_dir is None:
            return img_path
        return osp.join(self.npy_dir, osp.splitext(osp.basename(img_path))[0] + '.npy')

    def predict_batch(self, data_batch: dict) -> Sequence:
        samples = data_batch['data_samples']
        for sample in samples:
            if 'img_path' not in sample:
                raise ValueError('the sliding-window loops need img_path in each data sample '
                                 '(PackDetInputs meta_keys)')
            sample.pred_instances = predict_sliding(
                self.runner.model, self.pixels_of(sample.img_path), step=self._step,
                fp16=self.fp16, **self.window_cfg)
        return samples

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: dict) -> None:
        kind = 'val' if self._step == 'val_step' else 'test'
        self.runner.call_hook(f'before_{kind}_iter', batch_idx=idx, data_batch=data_batch)
        outputs = self.predict_batch(data_batch)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(f'after_{kind}_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)


@register_loop
class SlidingWindowTestLoop(_SlidingWindowMixin, TestLoop):
    """``TestLoop`` over whole images, predicted by :func:`predict_sliding` (STAR-MMRotate's
    defaults: 1024 windows, overlap 200, > 60 % covered, 4 per forward, NMS IoU 0.4, /64)."""


@register_loop
class SlidingWindowValLoop(_SlidingWindowMixin, ValLoop):
    """``ValLoop`` counterpart of :class:`SlidingWindowTestLoop` (uses ``val_step``)."""

    _step = 'val_step'
