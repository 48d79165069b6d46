"""The H2RBox-v2 detector for mmrotate 1.0.0rc1: a single-stage detector that trains on extra
rotated and flipped views of its batch."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.detectors import SingleStageDetector
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures import DetDataSample, SampleList
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData
from mmrotate.structures import RotatedBoxes
from torch import Tensor

from mmpeft.registry import register_model

from .h2rbox_v2_head import NUM_VIEWS, VIEW_FLP, VIEW_ORI, VIEW_ROT, view_key

#: how the rotated view is sampled (:func:`rotate_batch`): mmrotate 1.x's grid or torchvision's
ROTATE_GRIDS = ('normalized', 'pixel')


def rotate_batch(inputs: Tensor, angle: float, mode: str = 'bilinear',
                 padding: str = 'reflection', grid: str = 'normalized') -> Tensor:
    """Images ``(N, C, H, W)`` turned by ``angle`` radians about their centre, same size.

    In image coordinates (y down) a point ``p`` moves to ``R(angle) (p - c) + c``, the
    convention of ``RotatedBoxes.rotate_(c, degrees(angle))``: a positive angle turns the
    content clockwise on screen. ``grid`` says how the sampling grid is made:

    - ``'normalized'`` (mmrotate 1.x): the rotation acts on ``grid_sample``'s normalised
      coordinates with ``align_corners=True``: a rotation in pixels only for square inputs
      (non-square ones are sheared), reflection mirrors about the border pixels' centres;
    - ``'pixel'`` (torchvision's ``rotate``, STAR-MMRotate's v2p): the rotation acts in pixel
      units, ``align_corners=False``: isotropic for any ``H, W``, reflection mirrors about the
      image edges.

    Both agree on square inputs except where reflection padding fills the corners.
    """
    if grid not in ROTATE_GRIDS:
        raise ValueError(f'grid must be one of {ROTATE_GRIDS}, got {grid!r}')
    n, _, h, w = inputs.shape
    cos, sin = math.cos(angle), math.sin(angle)
    # output point -> input point is R(-angle) about the centre, in normalised coordinates
    aspect = h / w if grid == 'pixel' else 1.
    theta = inputs.new_tensor([[cos, sin * aspect, 0.], [-sin / aspect, cos, 0.]])
    align_corners = grid == 'normalized'
    coords = F.affine_grid(theta.expand(n, 2, 3), list(inputs.shape), align_corners=align_corners)
    return F.grid_sample(inputs, coords, mode=mode, padding_mode=padding,
                         align_corners=align_corners)


@register_model
class H2RBoxV2Detector(SingleStageDetector):
    """`H2RBox-v2 <https://arxiv.org/abs/2304.04403>`_: rotated boxes learnt from horizontal ones.

    In training, every gt gets a ``bid`` (object id x 3 + view) and the batch is extended by
    transformed copies of itself, the views between which :class:`H2RBoxV2Head` enforces
    symmetry: a rotation by ``pi * U(view_range)`` about the tensor centre (one angle per batch)
    and a vertical flip. Inference is the plain single-stage detector's.

    Arguments as mmrotate 1.x's ``H2RBoxV2Detector`` (the same registered name), plus:

    Args:
        crop_size: centre crop of the inputs and views before the forward (mmrotate 1.x);
            ``None`` or a size not smaller than the input: no crop.
        padding: ``grid_sample`` padding of the rotated view: ``'reflection'`` (mmrotate 1.x) or
            ``'zeros'`` (the mean pixel after normalisation: STAR-MMRotate's v2p).
        view_range: the rotation is ``pi * U(view_range)``.
        prob_rot: ``None``: both views every step (mmrotate 1.x, batch x 3). A probability:
            STAR-MMRotate's "v2p", one view per step, the rotation with this probability,
            otherwise the flip (batch x 2; its configs use 0.95).
        interpolation: ``grid_sample`` mode of the rotation: ``'bilinear'`` (mmrotate 1.x) or
            ``'nearest'`` (v2p, torchvision's default).
        rotate_grid: how the rotated view is sampled (:func:`rotate_batch`): ``'normalized'``
            (mmrotate 1.x) or ``'pixel'`` (torchvision's ``rotate``, v2p; isotropic on
            non-square inputs).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 bbox_head: dict,
                 crop_size: Optional[Tuple[int, int]] = (768, 768),
                 padding: str = 'reflection',
                 view_range: Tuple[float, float] = (0.25, 0.75),
                 prob_rot: Optional[float] = None,
                 interpolation: str = 'bilinear',
                 rotate_grid: str = 'normalized',
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, bbox_head=bbox_head, train_cfg=train_cfg,
                         test_cfg=test_cfg, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if prob_rot is not None and not 0 <= prob_rot <= 1:
            raise ValueError(f'prob_rot must be None or in [0, 1], got {prob_rot}')
        if rotate_grid not in ROTATE_GRIDS:
            raise ValueError(f'rotate_grid must be one of {ROTATE_GRIDS}, got {rotate_grid!r}')
        self.crop_size = tuple(crop_size) if crop_size is not None else None
        self.padding = padding
        self.view_range = tuple(view_range)
        self.prob_rot = prob_rot
        self.interpolation = interpolation
        self.rotate_grid = rotate_grid

    def center_crop(self, inputs: Tensor,
                    batch_gt: List[InstanceData]) -> Tuple[Tensor, List[InstanceData]]:
        """The centre ``crop_size`` of ``inputs``, gts moved with it (no-op if not smaller)."""
        h, w = inputs.shape[-2:]
        if self.crop_size is None:
            return inputs, batch_gt
        size_h, size_w = min(self.crop_size[0], h), min(self.crop_size[1], w)
        top, left = (h - size_h) // 2, (w - size_w) // 2
        if (top, left) == (0, 0):
            return inputs, batch_gt
        for gt in batch_gt:
            gt.bboxes.translate_((-left, -top))
        return inputs[..., top:top + size_h, left:left + size_w], batch_gt

    def draw_views(self) -> List[Tuple[int, float]]:
        """The extra views of this step: ``[(VIEW_ROT, angle), (VIEW_FLP, 0.)]`` or one of them."""
        low, high = self.view_range
        angle = math.pi * (low + (high - low) * torch.rand(1).item())
        if self.prob_rot is None:
            return [(VIEW_ROT, angle), (VIEW_FLP, 0.)]
        if torch.rand(1).item() < self.prob_rot:
            return [(VIEW_ROT, angle)]
        return [(VIEW_FLP, 0.)]

    def make_view(self, inputs: Tensor, batch_gt: List[InstanceData], view: int,
                  angle: float = 0.) -> Tuple[Tensor, List[InstanceData]]:
        """One transformed copy of the batch and of its gts, ``bid`` set to ``view``."""
        h, w = inputs.shape[-2:]
        out = []
        for gt in batch_gt:
            gt = self._as_rotated(gt)
            if view == VIEW_ROT:
                gt.bboxes.rotate_((w / 2, h / 2), math.degrees(angle))
            elif view == VIEW_FLP:
                gt.bboxes.flip_((h, w), 'vertical')
            gt.bid = view_key(gt.bid // NUM_VIEWS, view)
            out.append(gt)
        if view == VIEW_ROT:
            inputs = rotate_batch(inputs, angle, self.interpolation, self.padding,
                                  self.rotate_grid)
        elif view == VIEW_FLP:
            inputs = torch.flip(inputs, dims=[-2])
        return inputs, out

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict:
        """Losses of the head on the batch and its rotated / flipped views."""
        batch_gt, _, batch_metas = unpack_gt_instances(batch_data_samples)
        batch_gt = [self._as_rotated(gt) for gt in batch_gt]
        inputs, batch_gt = self.center_crop(batch_inputs, batch_gt)
        first = 0
        for gt in batch_gt:
            gt.bid = view_key(torch.arange(first, first + len(gt), device=inputs.device),
                              VIEW_ORI)
            first += len(gt)
        all_inputs, all_gt = [inputs], list(batch_gt)
        for view, angle in self.draw_views():
            view_inputs, view_gt = self.make_view(inputs, batch_gt, view, angle)
            all_inputs.append(view_inputs)
            all_gt.extend(view_gt)
        samples = [DetDataSample(metainfo=meta, gt_instances=gt)
                   for meta, gt in zip(self._repeat(batch_metas, len(all_inputs)), all_gt)]
        return self.bbox_head.loss(self.extract_feat(torch.cat(all_inputs)), samples)

    @staticmethod
    def _as_rotated(gt: InstanceData) -> InstanceData:
        """A copy of ``gt`` with its own :class:`RotatedBoxes` (also after ``boxtype2tensor``),
        free to be moved in place."""
        gt = gt.clone()  # shallow: the boxes are replaced by a copy
        gt.bboxes = RotatedBoxes(get_box_tensor(gt.bboxes).clone())
        return gt

    @staticmethod
    def _repeat(metas: Sequence[dict], times: int) -> List[dict]:
        return [dict(meta) for _ in range(times) for meta in metas]
