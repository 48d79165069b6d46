"""mmpeft: parameter-efficient fine-tuning for OpenMMLab 2.0 dense prediction.

``custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)`` in a config applies the
compatibility layer (:mod:`mmpeft.compat`) and registers every mmpeft module in the mmdet, mmseg
and mmrotate scopes.
"""
from . import compat

compat.apply_all()

from . import engine, models  # noqa: E402,F401  (registers modules)

__version__ = '0.1.0'
