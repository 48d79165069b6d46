"""The H2RBox-v2 head for mmrotate 1.0.0rc1: rotated FCOS trained from horizontal boxes."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList, reduce_mean
from mmengine import ConfigDict
from mmengine.structures import InstanceData
from mmrotate.models.dense_heads import RotatedFCOSHead
from mmrotate.registry import MODELS as ROTATE_MODELS
from mmrotate.structures import RotatedBoxes
from torch import Tensor

from mmpeft.registry import register_model

#: views of an object in a training batch, as :class:`H2RBoxV2Detector` builds it
VIEW_ORI, VIEW_ROT, VIEW_FLP = 0, 1, 2
NUM_VIEWS = 3


def view_key(object_ids: Tensor, view: int) -> Tensor:
    """The ``bid`` of objects in one view: ``object_id * NUM_VIEWS + view`` (int64)."""
    return object_ids.long() * NUM_VIEWS + view


def batch_views(batch_gt_instances: InstanceList) -> List[int]:
    """The views present in a batch, from the ``bid`` of its objects."""
    bids = [gt.bid.long() for gt in batch_gt_instances if 'bid' in gt]
    if not bids:
        return []
    bids = torch.cat(bids)
    return sorted(set((bids[bids >= 0] % NUM_VIEWS).tolist()))


def half_extents(w: Tensor, h: Tensor, angle: Tensor) -> Tensor:
    """Half width and height ``(..., 2)`` of the axis-aligned box around a ``w x h`` box turned
    by ``angle``."""
    cos, sin = torch.cos(angle).abs(), torch.sin(angle).abs()
    return torch.stack((cos * w + sin * h, sin * w + cos * h), -1) / 2


def nested_projection(pred: Tensor, target: Tensor) -> Tuple[Tensor, Tensor]:
    """Axis-aligned boxes ``(x1, y1, x2, y2)`` of ``pred`` and ``target`` in the target's frame.

    Both are ``(cx, cy, w, h, angle)``; the target becomes its own corners, the prediction the
    box around it seen in the target's frame. An IoU loss between the two is the "CircumIoU"
    loss of H2RBox-v2.
    """
    half = half_extents(pred[..., 2], pred[..., 3], pred[..., 4] - target[..., 4])
    return (torch.cat((pred[..., :2] - half, pred[..., :2] + half), -1),
            torch.cat((target[..., :2] - target[..., 2:4] / 2,
                       target[..., :2] + target[..., 2:4] / 2), -1))


def circumscribed_hbox(rboxes: Tensor) -> Tensor:
    """``(x1, y1, x2, y2)`` around ``(cx, cy, w, h, angle)`` boxes, the angle detached."""
    half = half_extents(rboxes[..., 2], rboxes[..., 3], rboxes[..., 4].detach())
    return torch.cat((rboxes[..., :2] - half, rboxes[..., :2] + half), -1)


@register_model
class H2RBoxV2Head(RotatedFCOSHead):
    """Rotated FCOS head of `H2RBox-v2 <https://arxiv.org/abs/2304.04403>`_ (HBox supervision).

    Boxes are learnt from horizontal boxes with the "CircumIoU" loss (the predicted rotated box,
    its angle detached, projected into the target's frame, :func:`nested_projection`), angles
    only from the symmetry self-supervision ``loss_symmetry_ss`` between the views of each
    object that :class:`H2RBoxV2Detector` adds to the batch (``gt_instances.bid``: object id x 3
    + view, see :func:`view_key`). The PSC angle vectors of an object's positive points are
    averaged per view before decoding; objects without positives in every view of the batch
    leave the symmetry loss. Rotation-agnostic classes (DOTA's baseball-diamond, storage-tank,
    roundabout) have their predicted angle set to 0 (target angle snapped to 0 or -pi/2) and no
    symmetry loss; at test time angle 0, and ``agnostic_resize_classes`` are shrunk by 0.85.

    Arguments as mmrotate 1.x's ``H2RBoxV2Head`` (the same registered name), plus:

    Args:
        agnostic_after_nms: apply the rotation-agnostic fix-ups after NMS, as STAR-MMRotate's
            ``H2RBoxV2PHead`` ("v2p"); mmrotate 1.x applies them before (default).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 angle_version: str = 'le90',
                 use_hbbox_loss: bool = False,
                 scale_angle: bool = False,
                 angle_coder: dict = dict(type='PseudoAngleCoder'),
                 h_bbox_coder: dict = dict(type='mmdet.DistancePointBBoxCoder'),
                 bbox_coder: dict = dict(type='DistanceAnglePointCoder'),
                 loss_cls: dict = dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0,
                                       alpha=0.25, loss_weight=1.0),
                 loss_bbox: dict = dict(type='RotatedIoULoss', loss_weight=1.0),
                 loss_centerness: dict = dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True,
                                              loss_weight=1.0),
                 loss_angle: Optional[dict] = None,
                 loss_symmetry_ss: dict = dict(type='H2RBoxV2ConsistencyLoss'),
                 rotation_agnostic_classes: Optional[Sequence[int]] = None,
                 agnostic_resize_classes: Optional[Sequence[int]] = None,
                 use_circumiou_loss: bool = True,
                 use_standalone_angle: bool = True,
                 use_reweighted_loss_bbox: bool = False,
                 agnostic_after_nms: bool = False,
                 **kwargs) -> None:
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            angle_version=angle_version,
            use_hbbox_loss=use_hbbox_loss,
            scale_angle=scale_angle,
            angle_coder=angle_coder,
            h_bbox_coder=h_bbox_coder,
            bbox_coder=bbox_coder,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            loss_centerness=loss_centerness,
            loss_angle=loss_angle,
            **kwargs)
        self.loss_symmetry_ss = ROTATE_MODELS.build(loss_symmetry_ss)
        self.rotation_agnostic_classes = list(rotation_agnostic_classes or [])
        self.agnostic_resize_classes = list(agnostic_resize_classes or [])
        self.use_circumiou_loss = use_circumiou_loss
        self.use_standalone_angle = use_standalone_angle
        self.use_reweighted_loss_bbox = use_reweighted_loss_bbox
        self.agnostic_after_nms = agnostic_after_nms

    def _agnostic_mask(self, labels: Tensor) -> Tensor:
        """Where ``labels`` is a rotation-agnostic class."""
        classes = labels.new_tensor(self.rotation_agnostic_classes)
        return (labels[..., None] == classes).any(-1)

    # ------------------------------------------------------------------------------ training
    def _get_targets_single(self, gt_instances: InstanceData, points: Tensor,
                            regress_ranges: Tensor,
                            num_points_per_lvl: List[int]) -> Tuple[Tensor, Tensor, Tensor]:
        """Rotated FCOS targets of one image; the angle targets carry the assigned object's
        ``bid`` as a second column (-1 for background), so that :meth:`get_targets` splits both
        by level alike.

        The rotated FCOS assignment runs on the gt indices as labels (offset past the
        background label ``num_classes``) and gives labels and ``bid`` by index.
        """
        num_gts = len(gt_instances)
        bids = gt_instances.bid if 'bid' in gt_instances else \
            gt_instances.labels.new_full((num_gts, ), -1)
        offset = self.num_classes + 1
        probe = InstanceData(bboxes=gt_instances.bboxes,
                             labels=torch.arange(num_gts, device=points.device) + offset)
        assigned, bbox_targets, angle_targets = super()._get_targets_single(
            probe, points, regress_ranges, num_points_per_lvl)
        foreground = assigned != self.num_classes
        index = (assigned - offset).clamp(min=0)
        if num_gts:
            labels = torch.where(foreground, gt_instances.labels[index], assigned)
            point_bids = torch.where(foreground, bids[index], bids.new_full((), -1))
        else:
            labels, point_bids = assigned, assigned.new_full(assigned.shape, -1)
        angle_bids = torch.cat([angle_targets, point_bids[:, None].to(angle_targets)], -1)
        return labels, bbox_targets, angle_bids

    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     angle_preds: List[Tensor],
                     centernesses: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> Dict[str, Tensor]:
        """Focal, CircumIoU, centerness and symmetry losses of a batch of views.

        Returns ``loss_cls``, ``loss_bbox``, ``loss_centerness`` and ``loss_symmetry_ss``.
        """
        # float32 under AMP too: the averaging per object and atan2 of the PSC decoding
        cls_scores, bbox_preds, angle_preds, centernesses = (
            [t.float() for t in level] for level in (cls_scores, bbox_preds, angle_preds,
                                                     centernesses))
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        all_level_points = self.prior_generator.grid_priors(
            featmap_sizes, dtype=bbox_preds[0].dtype, device=bbox_preds[0].device)
        labels, bbox_targets, angle_bid_targets = self.get_targets(all_level_points,
                                                                   batch_gt_instances)
        num_imgs = cls_scores[0].size(0)
        angle_dim = self.angle_coder.encode_size

        def flatten(maps: List[Tensor], channels: int) -> Tensor:
            return torch.cat([m.permute(0, 2, 3, 1).reshape(-1, channels) for m in maps])

        flat_cls = flatten(cls_scores, self.cls_out_channels)
        flat_bbox = flatten(bbox_preds, 4)
        flat_angle = flatten(angle_preds, angle_dim)
        flat_centerness = flatten(centernesses, 1)[:, 0]
        flat_labels = torch.cat(labels)
        flat_bbox_targets = torch.cat(bbox_targets)
        flat_angle_bid = torch.cat(angle_bid_targets)
        flat_points = torch.cat([points.repeat(num_imgs, 1) for points in all_level_points])

        pos_inds = ((flat_labels >= 0) & (flat_labels < self.num_classes)).nonzero().reshape(-1)
        num_pos = max(reduce_mean(flat_cls.new_tensor(float(len(pos_inds)))), 1.0)
        loss_cls = self.loss_cls(flat_cls, flat_labels, avg_factor=num_pos)

        pos_bbox_preds = flat_bbox[pos_inds]
        pos_angle_preds = flat_angle[pos_inds]
        pos_centerness = flat_centerness[pos_inds]
        pos_bbox_targets = flat_bbox_targets[pos_inds]
        pos_angle_targets = flat_angle_bid[pos_inds, :1]
        pos_bids = flat_angle_bid[pos_inds, 1].long()
        pos_centerness_targets = self.centerness_target(pos_bbox_targets)
        centerness_denorm = max(reduce_mean(pos_centerness_targets.sum().detach()), 1e-6)

        if len(pos_inds) == 0:  # zeros that keep every output in the graph (DDP)
            return dict(loss_cls=loss_cls, loss_bbox=pos_bbox_preds.sum(),
                        loss_centerness=pos_centerness.sum(),
                        loss_symmetry_ss=pos_angle_preds.sum())

        pos_points = flat_points[pos_inds]
        pos_labels = flat_labels[pos_inds]
        pred_angles = self.angle_coder.decode(pos_angle_preds, keepdim=True)
        if self.use_standalone_angle:  # the angle learns from the self-supervision alone
            pred_angles = pred_angles.detach()
        target_angles = pos_angle_targets
        if self.rotation_agnostic_classes:
            agnostic = self._agnostic_mask(pos_labels)[:, None]
            pred_angles = torch.where(agnostic, torch.zeros_like(pred_angles), pred_angles)
            snapped = torch.where(target_angles.abs() < math.pi / 4,
                                  torch.zeros_like(target_angles),
                                  torch.full_like(target_angles, -math.pi / 2))
            target_angles = torch.where(agnostic, snapped, target_angles)
        pred_boxes = self.bbox_coder.decode(pos_points, torch.cat([pos_bbox_preds, pred_angles],
                                                                  -1))
        target_boxes = self.bbox_coder.decode(pos_points,
                                              torch.cat([pos_bbox_targets, target_angles], -1))
        if self.use_circumiou_loss:
            loss_bbox = self.loss_bbox(*nested_projection(pred_boxes, target_boxes),
                                       weight=pos_centerness_targets,
                                       avg_factor=centerness_denorm)
        else:  # only targets that are horizontal boxes, compared as such
            horizontal = (target_boxes[:, 4] == 0) | (target_boxes[:, 4] == -math.pi / 2)
            loss_bbox = self.loss_bbox(
                circumscribed_hbox(pred_boxes[horizontal]),
                circumscribed_hbox(target_boxes[horizontal]),
                weight=pos_centerness_targets[horizontal],
                avg_factor=centerness_denorm * horizontal.sum() / horizontal.numel())
        loss_centerness = self.loss_centerness(pos_centerness, pos_centerness_targets,
                                               avg_factor=num_pos)
        loss_symmetry_ss = self.symmetry_loss(pos_angle_preds, pos_angle_targets[:, 0], pos_bids,
                                              pos_labels, batch_views(batch_gt_instances))
        if self.use_reweighted_loss_bbox:
            loss_bbox = math.exp(-loss_symmetry_ss.item()) * loss_bbox
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_centerness=loss_centerness,
                    loss_symmetry_ss=loss_symmetry_ss)

    def symmetry_loss(self, pos_angle_preds: Tensor, pos_angle_targets: Tensor, pos_bids: Tensor,
                      pos_labels: Tensor, views: Sequence[int]) -> Tensor:
        """``loss_symmetry_ss`` over the objects present in every view of the batch.

        Args:
            pos_angle_preds: encoded angle predictions of the positive points, (P, encode_size).
            pos_angle_targets: their target angles, (P, ).
            pos_bids: their objects' ``bid`` (object id x 3 + view; -1 for none), (P, ).
            pos_labels: their classes, (P, ).
            views: the views in the batch (:data:`VIEW_ORI`, :data:`VIEW_ROT`,
                :data:`VIEW_FLP`).
        """
        valid = pos_bids >= 0
        keys, index = torch.unique(pos_bids[valid], return_inverse=True)
        counts = torch.bincount(index, minlength=len(keys)).to(pos_angle_preds)[:, None]
        mean_codes = pos_angle_preds.new_zeros(len(keys), pos_angle_preds.size(1)).index_add(
            0, index, pos_angle_preds[valid]) / counts
        mean_targets = pos_angle_targets.new_zeros(len(keys)).index_add(
            0, index, pos_angle_targets[valid]) / counts[:, 0]
        key_labels = pos_labels.new_zeros(len(keys)).scatter(0, index, pos_labels[valid])

        objects, row = torch.unique(keys // NUM_VIEWS, return_inverse=True)
        col = keys % NUM_VIEWS
        present = keys.new_zeros(len(objects), NUM_VIEWS, dtype=torch.bool)
        present[row, col] = True
        complete = present[:, list(views)].all(-1)
        angles = mean_codes.new_zeros(len(objects), NUM_VIEWS)
        angles = angles.index_put((row, col), self.angle_coder.decode(mean_codes))[complete]
        targets = mean_targets.new_zeros(len(objects), NUM_VIEWS).index_put(
            (row, col), mean_targets)[complete]
        labels = key_labels.new_zeros(len(objects)).index_put((row, ), key_labels)[complete]
        agnostic = self._agnostic_mask(labels) if self.rotation_agnostic_classes else None
        return self.loss_symmetry_ss(
            angles[:, VIEW_ORI],
            angles[:, VIEW_ROT] if VIEW_ROT in views else None,
            angles[:, VIEW_FLP] if VIEW_FLP in views else None,
            targets[:, VIEW_ORI],
            targets[:, VIEW_ROT] if VIEW_ROT in views else None,
            agnostic)

    # ----------------------------------------------------------------------------- inference
    def _fix_agnostic(self, results: InstanceData) -> InstanceData:
        """Angle 0 for rotation-agnostic classes; ``agnostic_resize_classes`` shrunk by 0.85."""
        if not self.rotation_agnostic_classes or len(results) == 0:
            return results
        boxes = get_box_tensor(results.bboxes).clone()
        boxes[self._agnostic_mask(results.labels), 4] = 0
        if self.agnostic_resize_classes:
            resize = (results.labels[:, None] ==
                      results.labels.new_tensor(self.agnostic_resize_classes)).any(-1)
            boxes[resize, 2:4] *= 0.85
        results.bboxes = RotatedBoxes(boxes)
        return results

    def _bbox_post_process(self,
                           results: InstanceData,
                           cfg: ConfigDict,
                           rescale: bool = False,
                           with_nms: bool = True,
                           img_meta: Optional[dict] = None) -> InstanceData:
        """mmdet's post-processing (rescale, score factors, NMS) with the agnostic fix-ups
        before it (mmrotate 1.x) or after it (``agnostic_after_nms``, v2p)."""
        if not self.agnostic_after_nms:
            results = self._fix_agnostic(results)
        results = super()._bbox_post_process(results, cfg, rescale, with_nms, img_meta)
        return self._fix_agnostic(results) if self.agnostic_after_nms else results
