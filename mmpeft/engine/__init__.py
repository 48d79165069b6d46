"""Training-time components (hooks)."""
from . import hooks  # noqa: F401  (registers the hooks)
from .hooks import FreezeBackboneHook

__all__ = ['FreezeBackboneHook']
