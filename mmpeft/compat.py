"""Narrow compatibility patches for the pinned OpenMMLab 2.0 stack.

Applied once by ``import mmpeft`` (``apply_all``). Each patch is small, idempotent and documented:

* :func:`import_mmrotate` - mmrotate 1.0.0rc1 does not import on Python >= 3.10 (``from collections
  import Sequence``) and asserts ``mmdet <= 3.1.0`` although it runs with mmdet 3.3. Both are
  bridged *only while mmrotate is being imported*, and all of mmrotate's modules are registered
  (its registries have no lazy ``locations``), so DOTA configs build.
* :func:`patch_checkpoint_loading` - mmengine 0.10.7 calls ``torch.load`` without
  ``weights_only``; torch >= 2.6 then refuses the runner's own checkpoints. The classes mmengine
  puts in checkpoints are allow-listed and local files are always loaded with
  ``weights_only=True``. A checkpoint that needs any other pickled object is refused with
  :class:`UnsafeCheckpointError` naming it, unless ``MMPEFT_ALLOW_UNSAFE_CHECKPOINT=1`` is set
  (only for files you trust: unpickling can execute code).
* :func:`patch_cpu_distributed` - mmengine's PyTorch launcher calls ``torch.cuda.set_device``
  unconditionally; on a CPU-only torch this raises. Without CUDA the process group is created
  with ``gloo`` and no device is selected. Behaviour with CUDA is unchanged.
"""
import collections
import collections.abc
import contextlib
import os
import pickle
import sys
import zipfile
from typing import Iterator, List

import torch

UNSAFE_ENV = 'MMPEFT_ALLOW_UNSAFE_CHECKPOINT'
_APPLIED = False


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint needs pickled objects outside the allow-list."""


@contextlib.contextmanager
def _mmrotate_import_shims() -> Iterator[None]:
    import mmdet
    added_sequence = not hasattr(collections, 'Sequence')
    if added_sequence:
        collections.Sequence = collections.abc.Sequence  # type: ignore[attr-defined]
    real_version = mmdet.__version__
    mmdet.__version__ = '3.1.0'  # the newest mmdet mmrotate 1.0.0rc1's import-time assert accepts
    try:
        yield
    finally:
        mmdet.__version__ = real_version
        if added_sequence:
            del collections.Sequence  # type: ignore[attr-defined]


def import_mmrotate() -> bool:
    """Import mmrotate and register all its modules. Returns False if it is not installed."""
    if 'mmrotate.models' in sys.modules:
        return True
    try:
        import importlib.util
        if importlib.util.find_spec('mmrotate') is None:
            return False
    except ValueError:
        return False
    with _mmrotate_import_shims():
        from mmrotate.utils import register_all_modules
        register_all_modules(init_default_scope=False)
    return True


def _history_buffer_getattr(obj: object, name: str) -> object:
    """Stand-in for ``builtins.getattr`` inside checkpoints, limited to what mmengine pickles.

    A ``HistoryBuffer`` pickles its statistic methods as ``getattr(HistoryBuffer, 'min')``; no
    other attribute lookup is allowed while unpickling.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = {'min', 'max', 'current', 'mean'} | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}), which is not allowed')


def safe_globals() -> List[object]:
    """Objects that mmengine's own checkpoints pickle besides tensors and containers."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.config.config import ConfigDict
    multiarray = np.core.multiarray
    objs: List[object] = [
        HistoryBuffer, ConfigDict, np.ndarray, np.dtype, multiarray._reconstruct,
        multiarray.scalar, (_history_buffer_getattr, 'builtins.getattr')
    ]
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25 pickles dtypes by their class
    if dtypes is not None:
        objs += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return objs


def _unsafe_globals(filename: str) -> List[str]:
    getter = getattr(torch.serialization, 'get_unsafe_globals_in_checkpoint', None)
    if getter is None:
        return []
    try:
        return list(getter(filename))
    except Exception:  # noqa: BLE001 - only used to improve an error message
        return []


def load_checkpoint_file(filename: str, map_location=None, mmap: bool = False) -> object:
    """``torch.load`` a local file with ``weights_only=True`` and a clear refusal message.

    ``mmap=True`` maps the tensors instead of reading them (cheap when only metadata is needed;
    files in the zip format only).
    """
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    kw = dict(map_location=map_location)
    if mmap and zipfile.is_zipfile(filename):  # legacy (pre-zip) files cannot be mapped
        kw['mmap'] = True
    if os.environ.get(UNSAFE_ENV) == '1':
        return torch.load(filename, weights_only=False, **kw)
    try:
        return torch.load(filename, weights_only=True, **kw)
    except pickle.UnpicklingError as err:
        names = _unsafe_globals(filename)
        what = ', '.join(names) if names else str(err).splitlines()[0]
        raise UnsafeCheckpointError(
            f'refusing to load {filename}: it contains pickled objects that are not plain '
            f'weights ({what}). Loading it would execute arbitrary code. If you trust this file, '
            f'set {UNSAFE_ENV}=1 to load it anyway.') from err


def patch_checkpoint_loading() -> None:
    """Make mmengine's local checkpoint loader safe and able to read its own checkpoints."""
    from mmengine.runner.checkpoint import CheckpointLoader
    torch.serialization.add_safe_globals(safe_globals())
    CheckpointLoader.register_scheme(prefixes='', loader=_mmengine_local_loader, force=True)


def _mmengine_local_loader(filename: str, map_location=None) -> object:
    return load_checkpoint_file(filename, map_location)


def patch_cpu_distributed() -> None:
    """Let ``init_dist('pytorch')`` work on CPU-only machines (gloo, no device selection)."""
    from mmengine.dist import utils as dist_utils
    original = dist_utils._init_dist_pytorch
    if getattr(original, '_mmpeft_cpu_aware', False):
        return

    def _init_dist_pytorch(backend: str, init_backend: str = 'torch', **kwargs) -> None:
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        torch.distributed.init_process_group(backend='gloo', **kwargs)

    _init_dist_pytorch._mmpeft_cpu_aware = True  # type: ignore[attr-defined]
    dist_utils._init_dist_pytorch = _init_dist_pytorch


def apply_all() -> None:
    """Apply every patch once (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    patch_checkpoint_loading()
    patch_cpu_distributed()
    import_mmrotate()
    _APPLIED = True
