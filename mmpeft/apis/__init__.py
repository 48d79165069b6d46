"""User-facing inference: load a (trainable-only) checkpoint, run and draw it; many tasks on one
shared frozen base. The top layer: imports ``engine`` and ``models``, imported by nothing in the
package (``import mmpeft.apis``; ``import mmpeft`` does not load it)."""
from .inference import build_visualizer, draw_prediction, inference_model, init_model, load_weights
from .multitask import SharedBaseError, SharedBaseModels

__all__ = ['SharedBaseError', 'SharedBaseModels', 'build_visualizer', 'draw_prediction',
           'inference_model', 'init_model', 'load_weights']
