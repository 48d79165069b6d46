"""The self-supervised angle loss of H2RBox-v2 (rotation and flip consistency)."""
import math
from typing import Optional

import torch
import torch.nn as nn
from mmrotate.registry import MODELS as ROTATE_MODELS
from torch import Tensor

from mmpeft.registry import register_model


def snap_angle(diff: Tensor) -> Tensor:
    """An angle difference taken to ``[-pi/2, pi/2)``: box angles are pi-periodic."""
    return torch.remainder(diff + math.pi / 2, math.pi) - math.pi / 2


@register_model
class H2RBoxV2ConsistencyLoss(nn.Module):
    """Symmetry self-supervision of H2RBox-v2 on the decoded angle of each object in each view.

    With ``pred_*`` the angle predicted for one object in the original, rotated and vertically
    flipped views and ``target_*`` its (regularised) target angles:

    - rotation: ``(pred_ori - pred_rot) - (target_ori - target_rot)`` (``target_ori -
      target_rot`` is minus the view's rotation, modulo pi);
    - flip: ``pred_ori + pred_flp`` (a flip negates the angle).

    Both differences are snapped to ``[-pi/2, pi/2)`` (``use_snap_loss``), set to 0 where
    ``agnostic_mask`` is true (rotation-agnostic classes) and scored against 0 by ``loss_rot`` /
    ``loss_flp``. A view that was not drawn (``None``, STAR-MMRotate's v2p draws one per step)
    adds nothing.

    Args:
        loss_rot: config of the loss on the rotation difference.
        loss_flp: config of the loss on the flip difference.
        use_snap_loss: snap the differences to ``[-pi/2, pi/2)``.
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
    """

    def __init__(self,
                 loss_rot: dict = dict(type='mmdet.SmoothL1Loss', loss_weight=1.0, beta=0.1),
                 loss_flp: dict = dict(type='mmdet.SmoothL1Loss', loss_weight=0.05, beta=0.1),
                 use_snap_loss: bool = True,
                 reduction: str = 'mean') -> None:
        super().__init__()
        self.loss_rot = ROTATE_MODELS.build(loss_rot)
        self.loss_flp = ROTATE_MODELS.build(loss_flp)
        self.use_snap_loss = use_snap_loss
        self.reduction = reduction

    def forward(self,
                pred_ori: Tensor,
                pred_rot: Optional[Tensor],
                pred_flp: Optional[Tensor],
                target_ori: Tensor,
                target_rot: Optional[Tensor],
                agnostic_mask: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """The sum of the rotation and flip terms (angles in radians, shape ``(num_objects,)``)."""
        assert reduction_override in (None, 'none', 'mean', 'sum')
        reduction = reduction_override or self.reduction
        terms = []
        if pred_rot is not None:
            terms.append((self.loss_rot, (pred_ori - pred_rot) - (target_ori - target_rot)))
        if pred_flp is not None:
            terms.append((self.loss_flp, pred_ori + pred_flp))
        loss = pred_ori.sum() * 0
        for criterion, diff in terms:
            if self.use_snap_loss:
                diff = snap_angle(diff)
            if agnostic_mask is not None:
                diff = torch.where(agnostic_mask, torch.zeros_like(diff), diff)
            loss = loss + criterion(diff, torch.zeros_like(diff), avg_factor=avg_factor,
                                    reduction_override=reduction)
        return loss
