"""2-D rotary position embeddings of patch tokens, computed for the grid of every input.

:class:`GridRotaryEmbedding` is what EVA-02's (:mod:`.peft_eva02`) and DINOv3's
(:mod:`.peft_dinov3`) rotary embeddings share: a ``(H * W, head_dims)`` angle table per
``(H, W)`` patch grid (kept for the last grid and device), applied to q or k as ``x cos +
partner(x) sin``. A family says how its angles are laid out (:meth:`~GridRotaryEmbedding.angles`)
and which channel each one is rotated with (:meth:`~GridRotaryEmbedding.partner`).
"""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn

from mmpeft.models.utils import check_int


class GridRotaryEmbedding(nn.Module):
    """A rotary embedding of the ``H * W`` patch tokens for any grid.

    Args:
        head_dims: channels per attention head (a multiple of 4: a pair of channels per angle,
            half the angles per axis).
    """

    def __init__(self, head_dims: int) -> None:
        super().__init__()
        name = type(self).__name__
        self.head_dims = check_int(name, 'head_dims', head_dims, 4)
        if head_dims % 4:
            raise ValueError(f'{name}: head_dims must be a multiple of 4 (a channel pair per '
                             f'angle, half the angles per axis), got {head_dims}')
        self._cache: Dict[tuple, Tuple[torch.Tensor, torch.Tensor]] = {}

    # ------------------------------------------------------------------ what a family provides
    def angles(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        """``(h * w, head_dims)`` angles (float32), rows in raster order."""
        raise NotImplementedError

    def partner(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with each channel replaced by the (signed) channel it is rotated with."""
        raise NotImplementedError

    def cacheable(self) -> bool:
        """Whether the table of a grid may be kept (not when it is drawn at random)."""
        return True

    # ------------------------------------------------------------------ the table
    def clear_cache(self) -> None:
        self._cache = {}

    def table(self, hw_shape: Sequence[int],
              device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(cos, sin)``, each ``(H * W, head_dims)`` float32, rows in raster order."""
        h, w = int(hw_shape[0]), int(hw_shape[1])
        key = (h, w, device)
        if key in self._cache:
            return self._cache[key]
        with torch.inference_mode(False):  # usable by later forwards with autograd too
            angles = self.angles(h, w, device)
            out = (angles.cos(), angles.sin())
        if self.cacheable():
            self._cache = {key: out}
        return out

    def rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """``x`` (``(..., H * W, head_dims)``) rotated by a :meth:`table`; in ``x``'s dtype."""
        return (x * cos + self.partner(x) * sin).to(x.dtype)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """Rotate ``x`` (``(..., H * W, head_dims)``, the patch tokens of q or k)."""
        h, w = int(hw_shape[0]), int(hw_shape[1])
        if x.shape[-2] != h * w or x.shape[-1] != self.head_dims:
            raise ValueError(f'{type(self).__name__}: expected (..., {h * w}, {self.head_dims}) '
                             f'for the {h}x{w} grid, got {tuple(x.shape)}')
        return self.rotate(x, *self.table((h, w), x.device))
