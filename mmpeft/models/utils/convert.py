"""Giving a module that a library has already built a subclass's ``forward``."""
from typing import Type, TypeVar, cast

import torch.nn as nn

M = TypeVar('M', bound=nn.Module)


def convert_module(module: nn.Module, base: type, cls: Type[M], **attrs: object) -> M:
    """Turn ``module``, an instance of exactly ``base``, into an instance of ``cls`` in place.

    mmdet's ``SwinTransformer`` builds its blocks, attention and patch-merging modules inside its
    constructor and offers no way to choose their classes. Swapping the class of the built module
    keeps every parameter, its name and so every checkpoint key, and changes only the methods.
    ``cls`` must subclass ``base`` and must not rely on its own ``__init__`` (which does not run):
    whatever it needs besides ``base``'s state is given as ``attrs`` and set on the module.

    Raises:
        TypeError: ``module`` is not exactly a ``base`` (already converted, or a user's subclass
            whose forward would be lost), or ``cls`` does not subclass ``base``.
    """
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f'{cls!r} is not a subclass of {base.__name__}')
    if type(module) is not base:
        raise TypeError(f'expected an {base.__module__}.{base.__name__}, got '
                        f'{type(module).__module__}.{type(module).__name__}')
    module.__class__ = cls
    for name, value in attrs.items():
        setattr(module, name, value)
    return cast(M, module)
