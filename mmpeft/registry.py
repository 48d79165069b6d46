"""One registration mechanism for every mmpeft module.

``@register_model`` puts a class into the ``MODELS`` registry of each OpenMMLab codebase that is
installed (mmdet, mmseg, mmrotate, mmpretrain), so ``type='Name'`` works in configs whose
``default_scope`` is any of them. ``@register_peft_module`` does the same for a PEFT method's
module and also records it in :data:`PEFT_MODULES`, where the PEFT backbones look up
``method=dict(type='Name', ...)``.
``@register_hook`` puts a hook into mmengine's root ``HOOKS``, which every scope searches as the
parent of its own (``@register_loop`` the same for ``LOOPS``); ``@register_rotated('DATASETS')``
puts a dataset or metric of rotated boxes into mmrotate's registry of that name.
"""
import importlib
from typing import Callable, List, TypeVar

from mmengine.registry import HOOKS as ROOT_HOOKS
from mmengine.registry import LOOPS as ROOT_LOOPS
from mmengine.registry import Registry

from . import compat

SCOPES = ('mmdet', 'mmseg', 'mmrotate', 'mmpretrain')
T = TypeVar('T', bound=type)

#: the modules of the PEFT methods (:class:`mmpeft.models.peft.PEFTModule` subclasses)
PEFT_MODULES = Registry('peft module', scope='mmpeft')


def scope_registries(name: str = 'MODELS') -> List[Registry]:
    """The registry called ``name`` of every installed codebase in :data:`SCOPES`."""
    compat.apply_all()  # mmrotate's registry only imports through the compat shims
    regs = []
    for scope in SCOPES:
        try:
            module = importlib.import_module(f'{scope}.registry')
        except ImportError:
            continue
        regs.append(getattr(module, name))
    return regs


def register_model(cls: T) -> T:
    """Class decorator: register ``cls`` in the mmdet, mmseg, mmrotate and mmpretrain ``MODELS``."""
    for reg in scope_registries('MODELS'):
        reg.register_module(module=cls)
    return cls


def register_peft_module(cls: T) -> T:
    """Class decorator for a PEFT method's module: :func:`register_model` + :data:`PEFT_MODULES`."""
    PEFT_MODULES.register_module(module=cls)
    return register_model(cls)


def register_rotated(name: str) -> Callable[[T], T]:
    """Class decorator factory: register ``cls`` in mmrotate's registry ``name`` (``'DATASETS'``,
    ``'METRICS'``): rotated-box datasets and metrics belong to the mmrotate scope only."""

    def register(cls: T) -> T:
        compat.apply_all()
        module = importlib.import_module('mmrotate.registry')
        getattr(module, name).register_module(module=cls)
        return cls

    return register


def register_loop(cls: T) -> T:
    """Class decorator: register a loop in mmengine's root ``LOOPS`` (seen from every scope)."""
    ROOT_LOOPS.register_module(module=cls)
    return cls


def register_hook(cls: T) -> T:
    """Class decorator: register a hook in mmengine's root ``HOOKS`` (seen from every scope)."""
    ROOT_HOOKS.register_module(module=cls)
    return cls
