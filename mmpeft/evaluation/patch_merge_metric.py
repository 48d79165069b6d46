"""A DOTA-style metric that merges patch detections into whole images and scores them.

mmrotate's ``DOTAMetric(merge_patches=True)`` merges (class-wise NMS, IoU 0.1) but only writes a
submission zip: it computes no mAP. :class:`PatchMergeDOTAMetric` merges as STAR-MMRotate's crop
inference does (:func:`merge_windows`: class-agnostic rotated NMS, IoU 0.4), reads the
whole-image annotations of the same folder layout, and scores them with ``DOTAMetric``'s own
evaluation (``eval_rbbox_map``, VOC07 11-point AP at IoU 0.5 by default).
"""
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from mmrotate.datasets import DOTADataset
from mmrotate.evaluation import DOTAMetric
from mmrotate.structures.bbox import qbox2rbox

from mmpeft.registry import register_rotated

from .merge import merge_windows, parse_patch_id


def prediction_entry(img_id: str, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                     num_classes: int) -> dict:
    """One image's predictions in the form ``DOTAMetric.compute_metrics`` reads."""
    per_class = [np.hstack([boxes[labels == c], scores[labels == c].reshape(-1, 1)])
                 for c in range(num_classes)]
    return dict(img_id=img_id, bboxes=boxes, scores=scores, labels=labels,
                pred_bbox_scores=per_class)


@register_rotated('METRICS')
class PatchMergeDOTAMetric(DOTAMetric):
    """Scores detections on patches (names ``<image>__<size>__<x>___<y>``, as mmrotate's and
    mmpeft's split tools write them) against the annotations of the whole images.

    Args:
        gt_ann_dir: Folder of the whole images' DOTA-style ``.txt`` annotations. Every image
            there is scored; one without patches counts with no detections.
        merge_iou_thr: IoU of the class-agnostic rotated NMS of the merge (STAR-MMRotate: 0.4).
        diff_thr: Objects with a difficulty above this are ignored (as ``DOTADataset``).
        **kwargs: ``DOTAMetric``'s (``iou_thrs``, ``eval_mode``, ``prefix``, ...); its own
            ``merge_patches`` / ``format_only`` do not apply.
    """

    def __init__(self, gt_ann_dir: str, merge_iou_thr: float = 0.4, diff_thr: int = 100,
                 **kwargs) -> None:
        for key in ('merge_patches', 'format_only', 'predict_box_type'):
            if kwargs.get(key):
                raise ValueError(f'PatchMergeDOTAMetric merges and scores rotated boxes itself; '
                                 f'{key}={kwargs[key]!r} does not apply')
        super().__init__(**kwargs)
        if not osp.isdir(gt_ann_dir):
            raise FileNotFoundError(f'gt_ann_dir is not a folder: {gt_ann_dir}')
        self.gt_ann_dir = gt_ann_dir
        self.merge_iou_thr = merge_iou_thr
        self.diff_thr = diff_thr

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_instances']
            self.results.append(dict(
                img_id=sample['img_id'], bboxes=pred['bboxes'].cpu().numpy()[:, :5],
                scores=pred['scores'].cpu().numpy(), labels=pred['labels'].cpu().numpy()))

    def whole_image_gts(self) -> Dict[str, dict]:
        """``{image name: DOTAMetric's gt dict}`` from the ``.txt`` files of ``gt_ann_dir``."""
        dataset = DOTADataset(ann_file=self.gt_ann_dir, data_prefix=dict(img_path=''),
                              metainfo=self.dataset_meta, diff_thr=self.diff_thr, lazy_init=True)
        gts = {}
        for info in dataset.load_data_list():
            insts = info['instances']
            qboxes = torch.tensor([i['bbox'] for i in insts], dtype=torch.float32).reshape(-1, 8)
            rboxes = qbox2rbox(qboxes).numpy()
            labels = np.array([i['bbox_label'] for i in insts], dtype=np.int64)
            ignore = np.array([i['ignore_flag'] for i in insts], dtype=bool)
            gts[info['img_id']] = dict(labels=labels[~ignore], bboxes=rboxes[~ignore],
                                       labels_ignore=labels[ignore], bboxes_ignore=rboxes[ignore])
        return gts

    def merge(self, results: Sequence[dict]) -> Dict[str, Tuple[np.ndarray, ...]]:
        """``{image name: (boxes, scores, labels)}`` of the merged patch detections."""
        by_image: Dict[str, List[Tuple[Tuple[torch.Tensor, ...], Tuple[int, int]]]] = \
            defaultdict(list)
        for r in results:
            name, x, y = parse_patch_id(r['img_id'])
            dets = (torch.from_numpy(r['bboxes']), torch.from_numpy(r['scores']),
                    torch.from_numpy(r['labels']))
            by_image[name].append((dets, (x, y)))
        merged = {}
        for name, parts in by_image.items():
            dets, offsets = zip(*parts)
            boxes, scores, labels = merge_windows(dets, offsets, self.merge_iou_thr)
            merged[name] = (boxes.numpy(), scores.numpy(), labels.numpy())
        return merged

    def compute_metrics(self, results: list) -> dict:
        gts = self.whole_image_gts()
        merged = self.merge(results)
        unknown = sorted(set(merged) - set(gts))
        if unknown:
            raise ValueError(f'patches of images without an annotation file in '
                             f'{self.gt_ann_dir}: {unknown[:5]}')
        num_classes = len(self.dataset_meta['classes'])
        empty = (np.zeros((0, 5), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
        pairs = [(gts[name], prediction_entry(name, *merged.get(name, empty), num_classes))
                 for name in sorted(gts)]
        return super().compute_metrics(pairs)
