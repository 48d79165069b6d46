"""Evaluation of huge images: merging window / patch detections and scoring the merged result."""
from .merge import Dets, agnostic_nms, merge_windows, parse_patch_id
from .patch_merge_metric import PatchMergeDOTAMetric, prediction_entry

__all__ = ['Dets', 'PatchMergeDOTAMetric', 'agnostic_nms', 'merge_windows', 'parse_patch_id',
           'prediction_entry']
