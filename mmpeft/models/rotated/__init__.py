"""Rotated detectors for mmrotate 1.0.0rc1 that it lacks: H2RBox-v2 (mmrotate 1.x's
``H2RBoxV2Detector``, ``H2RBoxV2Head``, ``H2RBoxV2ConsistencyLoss``, with STAR-MMRotate's "v2p"
as options). The angle coder is mmrotate's own ``PSCCoder``."""
from .h2rbox_v2 import H2RBoxV2Detector, rotate_batch
from .h2rbox_v2_head import H2RBoxV2Head, nested_projection
from .losses import H2RBoxV2ConsistencyLoss, snap_angle

__all__ = ['H2RBoxV2Detector', 'H2RBoxV2Head', 'H2RBoxV2ConsistencyLoss', 'nested_projection',
           'rotate_batch', 'snap_angle']
