"""Datasets: STAR (rotated boxes, DOTA layout) and reading huge images window by window."""
from .star import STAR_CLASSES, STAR_PALETTE, STAR_ROTATION_AGNOSTIC, STARDataset
from .windows import WindowReader, sliding_windows

__all__ = ['STAR_CLASSES', 'STAR_PALETTE', 'STAR_ROTATION_AGNOSTIC', 'STARDataset',
           'WindowReader', 'sliding_windows']
