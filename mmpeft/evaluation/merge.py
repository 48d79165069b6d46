"""Merging the detections of overlapping windows (or offline patches) of one huge image.

As STAR-MMRotate's crop inference (``merge_results``): each window's rotated boxes go through a
**class-agnostic** rotated NMS, are shifted by the window's top-left corner into image
coordinates, and all windows' survivors go through the same NMS once more. (mmrotate 1.x's
``DOTAMetric(merge_patches=True)`` instead runs a class-wise NMS at IoU 0.1 and only writes a
submission file.)
"""
import re
from typing import List, Sequence, Tuple

import torch
from mmcv.ops import nms_rotated

Dets = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # boxes (N, 5), scores (N,), labels (N,)

_PATCH_ID = re.compile(r'^(?P<name>.+)__(?P<size>\d+)__(?P<x>-?\d+)___(?P<y>-?\d+)$')


def agnostic_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                 iou_thr: float) -> Dets:
    """Rotated NMS over all classes together; ``boxes`` are ``(x, y, w, h, angle)``."""
    if boxes.numel() == 0:
        return boxes.reshape(0, 5), scores.reshape(0), labels.reshape(0)
    _, keep = nms_rotated(boxes.float(), scores.float(), iou_thr)
    return boxes[keep], scores[keep], labels[keep]


def merge_windows(window_dets: Sequence[Dets], offsets: Sequence[Tuple[int, int]],
                  iou_thr: float = 0.4) -> Dets:
    """Merge per-window detections (in window coordinates) into one image's detections.

    Args:
        window_dets: ``(boxes (N, 5), scores (N,), labels (N,))`` per window.
        offsets: The ``(x0, y0)`` of each window in the image.
        iou_thr: IoU of the class-agnostic rotated NMS (STAR-MMRotate: 0.4).
    """
    if len(window_dets) != len(offsets):
        raise ValueError(f'{len(window_dets)} windows of detections but {len(offsets)} offsets')
    parts: List[Dets] = []
    for (boxes, scores, labels), (x0, y0) in zip(window_dets, offsets):
        boxes, scores, labels = agnostic_nms(boxes, scores, labels, iou_thr)
        boxes = boxes.clone()
        boxes[:, 0] += x0
        boxes[:, 1] += y0
        parts.append((boxes, scores, labels))
    if not parts:
        return torch.zeros(0, 5), torch.zeros(0), torch.zeros(0, dtype=torch.long)
    boxes, scores, labels = (torch.cat(t) for t in zip(*parts))
    return agnostic_nms(boxes, scores, labels, iou_thr)


def parse_patch_id(img_id: str) -> Tuple[str, int, int]:
    """``'P0001__1024__824___0'`` (the DOTA / mmrotate split naming) -> ``('P0001', 824, 0)``."""
    m = _PATCH_ID.match(img_id)
    if m is None:
        raise ValueError(f'{img_id!r} is not a patch name "<image>__<size>__<x>___<y>" as the '
                         'split tools write them')
    return m.group('name'), int(m.group('x')), int(m.group('y'))
