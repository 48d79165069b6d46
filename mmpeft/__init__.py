"""mmpeft: parameter-efficient fine-tuning for OpenMMLab 2.0 dense prediction.

``custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)`` in a config applies the
compatibility layer (:mod:`mmpeft.compat`), registers every mmpeft module in the mmdet, mmseg,
mmrotate and mmpretrain scopes, imports mmpretrain's classification pieces (:mod:`mmpeft.datasets`)
and adds mmpeft's default hooks to every runner (:mod:`mmpeft.engine.runner`).

Layers, each importing only the ones before it: ``compat`` -> ``registry`` -> ``checkpoint``
(base records of trainable-only checkpoints) -> ``datasets`` (mmpretrain's classification pieces,
STAR, window reading) -> ``models`` (``utils`` -> ``peft`` -> ``backbones``) -> ``evaluation`` ->
``engine`` -> ``apis`` (inference, many tasks on one base; not imported here); ``testing``
(synthetic datasets) stands apart. Nothing here imports ``tools/``.
"""
from . import compat

compat.apply_all()

from . import datasets, engine, evaluation, models  # noqa: E402,F401  (registers modules)

engine.add_default_hooks()

__version__ = '0.1.0'
