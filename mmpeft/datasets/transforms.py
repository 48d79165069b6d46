"""The three transforms of the classification recipe whose mmpretrain modules import torchvision.

mmpretrain 1.2.0's ``RandomResizedCrop``, ``ResizeEdge`` (``datasets/transforms/processing.py``)
and ``PackInputs`` (``formatting.py``) compute with mmcv and numpy only, but their modules import
torchvision at the top. These are the same computations (same random draws in the same order,
same rounding, same output keys), for numpy (cv2) images, registered under mmpretrain's names by
:mod:`mmpeft.datasets` only where torchvision is missing; with torchvision, mmpretrain's own run.
"""
import math
from typing import Dict, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform, to_tensor
from mmcv.transforms.utils import cache_randomness

_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


def _check_interpolation(interpolation: str) -> str:
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f'interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}')
    return interpolation


class RandomResizedCrop(BaseTransform):
    """Crop a random area (``crop_ratio_range`` of the image) of random aspect ratio (log-uniform
    in ``aspect_ratio_range``), then resize it to ``scale``; after ``max_attempts`` draws that do
    not fit, a central crop clamped to the ratio range (mmpretrain's ``RandomResizedCrop``).

    Args:
        scale: output size, an int (square) or ``(h, w)``.
        crop_ratio_range: range of the crop's area relative to the image's.
        aspect_ratio_range: range of the crop's width / height.
        max_attempts: random draws before the central-crop fallback.
        interpolation: mmcv interpolation of the resize.
        backend: mmcv resize backend, ``'cv2'`` or ``'pillow'``.
    """

    def __init__(self,
                 scale: Union[Sequence[int], int],
                 crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        scale = tuple(scale) if isinstance(scale, Sequence) else (scale, scale)
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f'scale must be a positive int or (h, w), got {scale}')
        if crop_ratio_range[0] > crop_ratio_range[1] or \
                aspect_ratio_range[0] > aspect_ratio_range[1]:
            raise ValueError('range should be of kind (min, max). But received crop_ratio_range '
                             f'{crop_ratio_range} and aspect_ratio_range {aspect_ratio_range}.')
        if not isinstance(max_attempts, int) or max_attempts < 0:
            raise ValueError(f'max_attempts must be an int >= 0, got {max_attempts!r}')
        self.scale = scale
        self.crop_ratio_range = crop_ratio_range
        self.aspect_ratio_range = aspect_ratio_range
        self.max_attempts = max_attempts
        self.interpolation = _check_interpolation(interpolation)
        self.backend = backend

    @cache_randomness
    def rand_crop_params(self, img: np.ndarray) -> Tuple[int, int, int, int]:
        """``(offset_h, offset_w, target_h, target_w)`` of the crop."""
        h, w = img.shape[:2]
        area = h * w
        log_ratio = (math.log(self.aspect_ratio_range[0]), math.log(self.aspect_ratio_range[1]))
        for _ in range(self.max_attempts):
            target_area = np.random.uniform(*self.crop_ratio_range) * area
            aspect_ratio = math.exp(np.random.uniform(*log_ratio))
            target_w = int(round(math.sqrt(target_area * aspect_ratio)))
            target_h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < target_w <= w and 0 < target_h <= h:
                return (np.random.randint(0, h - target_h + 1),
                        np.random.randint(0, w - target_w + 1), target_h, target_w)
        in_ratio = w / h
        if in_ratio < min(self.aspect_ratio_range):
            target_w, target_h = w, int(round(w / min(self.aspect_ratio_range)))
        elif in_ratio > max(self.aspect_ratio_range):
            target_w, target_h = int(round(h * max(self.aspect_ratio_range))), h
        else:
            target_w, target_h = w, h
        return (h - target_h) // 2, (w - target_w) // 2, target_h, target_w

    def transform(self, results: Dict) -> Dict:
        top, left, crop_h, crop_w = self.rand_crop_params(results['img'])
        img = mmcv.imcrop(results['img'],
                          np.array([left, top, left + crop_w - 1, top + crop_h - 1]))
        img = mmcv.imresize(img, self.scale[::-1], interpolation=self.interpolation,
                            backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, crop_ratio_range='
                f'{self.crop_ratio_range}, aspect_ratio_range={self.aspect_ratio_range}, '
                f'max_attempts={self.max_attempts}, interpolation={self.interpolation}, '
                f'backend={self.backend})')


class ResizeEdge(BaseTransform):
    """Resize so that one edge (``'short'``, ``'long'``, ``'width'`` or ``'height'``) becomes
    ``scale``, keeping the aspect ratio (the other edge truncated to an int), as mmpretrain's
    ``ResizeEdge``; sets ``img_shape``, ``scale`` and ``scale_factor``.
    """

    EDGES = ('short', 'long', 'width', 'height')

    def __init__(self, scale: int, edge: str = 'short', backend: str = 'cv2',
                 interpolation: str = 'bilinear') -> None:
        if edge not in self.EDGES:
            raise ValueError(f'edge must be one of {self.EDGES}, got {edge!r}')
        self.scale = scale
        self.edge = edge
        self.backend = backend
        self.interpolation = _check_interpolation(interpolation)

    def transform(self, results: Dict) -> Dict:
        h, w = results['img'].shape[:2]
        if (self.edge == 'short' and w < h) or (self.edge == 'long' and w > h) or \
                self.edge == 'width':
            size = (self.scale, int(self.scale * h / w))
        else:
            size = (int(self.scale * w / h), self.scale)
        img, w_scale, h_scale = mmcv.imresize(results['img'], size,
                                              interpolation=self.interpolation,
                                              return_scale=True, backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['scale'] = img.shape[:2][::-1]
        results['scale_factor'] = (w_scale, h_scale)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, edge={self.edge}, '
                f'backend={self.backend}, interpolation={self.interpolation})')


class PackInputs(BaseTransform):
    """Pack the image as a CHW tensor (``inputs``) and the labels and meta keys into a
    ``DataSample`` (``data_samples``), as mmpretrain's ``PackInputs`` does for numpy images."""

    DEFAULT_META_KEYS = ('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                         'flip', 'flip_direction')

    def __init__(self, input_key: str = 'img', algorithm_keys: Sequence[str] = (),
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.input_key = input_key
        self.algorithm_keys = algorithm_keys
        self.meta_keys = meta_keys

    @classmethod
    def format_input(cls, input_):
        """A numpy HWC (or HW) image as a CHW tensor; other arrays as tensors; lists item-wise."""
        if isinstance(input_, list):
            return [cls.format_input(item) for item in input_]
        if isinstance(input_, torch.Tensor):
            return input_
        if not isinstance(input_, np.ndarray):
            raise TypeError(f'Unsupported input type {type(input_)} (PIL images need '
                            'torchvision, which is not installed: load images with mmcv)')
        if input_.ndim == 2:
            input_ = np.expand_dims(input_, -1)
        if input_.ndim == 3 and not input_.flags.c_contiguous:
            return to_tensor(np.ascontiguousarray(input_.transpose(2, 0, 1)))
        if input_.ndim == 3:
            return to_tensor(input_).permute(2, 0, 1).contiguous()
        return to_tensor(input_)

    def transform(self, results: Dict) -> Dict:
        from mmpretrain.structures import DataSample
        packed = {}
        if self.input_key in results:
            packed['inputs'] = self.format_input(results[self.input_key])
        sample = DataSample()
        if 'gt_label' in results:
            sample.set_gt_label(results['gt_label'])
        if 'gt_score' in results:
            sample.set_gt_score(results['gt_score'])
        if 'mask' in results:
            sample.set_mask(results['mask'])
        for key in self.algorithm_keys:
            if key in results:
                sample.set_field(results[key], key)
        for key in self.meta_keys:
            if key in results:
                sample.set_field(results[key], key, field_type='metainfo')
        packed['data_samples'] = sample
        return packed

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(input_key='{self.input_key}', "
                f'algorithm_keys={self.algorithm_keys}, meta_keys={self.meta_keys})')
