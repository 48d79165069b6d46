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
  (only for files you trust: unpickling can execute code). A file that is merely unreadable
  (empty, truncated, not a PyTorch checkpoint) is a :class:`CorruptCheckpointError` instead.
* :func:`patch_cpu_distributed` - mmengine's PyTorch launcher calls ``torch.cuda.set_device``
  unconditionally; on a CPU-only torch this raises. Without CUDA the process group is created
  with ``gloo`` and no device is selected. Behaviour with CUDA is unchanged.
* :func:`import_mmpretrain` - mmpretrain 1.2.0 imports torchvision without declaring it, and
  PyPI's torchvision does not import beside a CPU torch. Without torchvision, mmpretrain's
  packages are imported bare with only the modules that do not need it; with torchvision,
  mmpretrain imports as usual.
"""
import argparse
import collections
import collections.abc
import contextlib
import importlib
import importlib.util
import io
import os
import pickle
import pickletools
import sys
import types
import zipfile
from typing import Iterator, List, Sequence

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


def has_torchvision() -> bool:
    """Whether torchvision is installed (``tools/setup_env.sh`` keeps it only where it imports)."""
    return importlib.util.find_spec('torchvision') is not None


def _bare_package(name: str) -> types.ModuleType:
    """The package ``name`` registered without running its ``__init__`` (parents likewise, but
    the top-level package, which is imported as usual)."""
    if name in sys.modules:
        return sys.modules[name]
    if '.' not in name:
        return importlib.import_module(name)
    parent_name, _, child = name.rpartition('.')
    parent = _bare_package(parent_name)
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f'{name} is not a package', name=name)
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    setattr(parent, child, package)
    return package


def import_mmpretrain(package: str, modules: Sequence[str] = ()) -> types.ModuleType:
    """mmpretrain's ``package`` (e.g. ``'mmpretrain.evaluation.metrics'``) with its ``modules``.

    With torchvision this is a plain import of the package (and of ``modules``). Without it, the
    package and its parents are registered bare (their ``__init__`` not run), each of ``modules``
    (which must not need torchvision) is imported, and its public names (``__all__``, else the
    classes and functions it defines) are exposed on the package as its ``__init__`` would
    expose them (``from mmpretrain.evaluation.metrics import Accuracy`` then works).
    mmpretrain's registries find bare packages in ``sys.modules``, so ``type='Name'`` resolves
    every module imported this way.
    """
    if has_torchvision():
        pkg = importlib.import_module(package)
        for name in modules:
            importlib.import_module(f'{package}.{name}')
        return pkg
    pkg = _bare_package(package)
    for name in modules:
        module = importlib.import_module(f'{package}.{name}')
        names = getattr(module, '__all__', None) or [
            attr for attr, value in vars(module).items()
            if not attr.startswith('_') and getattr(value, '__module__', None) == module.__name__]
        for attr in names:
            setattr(pkg, attr, getattr(module, attr))
    return pkg


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
    """Objects that mmengine's own checkpoints pickle besides tensors and containers, and the
    ``argparse.Namespace`` of the reference codebases' training arguments."""
    import numpy as np
    from mmengine.config.config import ConfigDict
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np.core.multiarray
    objs: List[object] = [
        HistoryBuffer, ConfigDict, np.ndarray, np.dtype, multiarray._reconstruct,
        multiarray.scalar, (_history_buffer_getattr, 'builtins.getattr'),
        # the training arguments that timm's saver (SSF, Conv-Adapter) and other reference
        # codebases keep beside the weights: a plain attribute bag, built without calling code
        argparse.Namespace,
    ]
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25 pickles dtypes by their class
    if dtypes is not None:
        objs += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return objs


_LEGACY_MAGIC = b'\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19'  # torch.save's pre-zip format


class CorruptCheckpointError(ValueError):
    """A file is not a readable PyTorch checkpoint: empty, truncated, damaged or another format.

    Unlike :class:`UnsafeCheckpointError`, nothing in it was judged dangerous; it cannot be read.
    """


def _sniff(filename: str) -> str:
    """The file's format from its first bytes: ``'empty'``, ``'zip'`` (torch.save),
    ``'torchscript'``, ``'legacy'`` (torch.save before 1.6), ``'damaged-zip'``, ``'pickle'`` or
    ``'unknown'``."""
    if os.path.getsize(filename) == 0:
        return 'empty'
    if zipfile.is_zipfile(filename):
        with zipfile.ZipFile(filename) as z:
            names = z.namelist()
        return 'torchscript' if any('/code/' in n or n.endswith('constants.pkl')
                                    for n in names) else 'zip'
    with open(filename, 'rb') as f:
        head = f.read(len(_LEGACY_MAGIC))
    if head.startswith(b'PK'):
        return 'damaged-zip'
    if head == _LEGACY_MAGIC:
        return 'legacy'
    return 'pickle' if head[:1] == b'\x80' else 'unknown'


def _pickle_globals(data: bytes, max_pickles: int = 4) -> List[str]:
    """Python objects referenced by the leading pickles of ``data``, read with ``pickletools``
    (nothing is executed). Raises ``ValueError`` when the pickle stream is broken."""
    names: List[str] = []
    pos = 0
    for _ in range(max_pickles):
        if pos >= len(data):
            break
        stream = io.BytesIO(data[pos:])
        strings: List[str] = []
        for op, arg, _ in pickletools.genops(stream):
            if op.name == 'GLOBAL':
                names.append(str(arg).replace(' ', '.'))
            elif op.name == 'STACK_GLOBAL':
                names.append('.'.join(strings[-2:]) if len(strings) >= 2 else '<unknown global>')
            elif isinstance(arg, str):
                strings.append(arg)
        pos += stream.tell()
    return names


def _allowed_global_names() -> set:
    """Globals ``torch.load(weights_only=True)`` accepts (its defaults and the allow-list)."""
    names = set()
    try:
        from torch import _weights_only_unpickler
        names |= set(_weights_only_unpickler._get_allowed_globals())
    except (ImportError, AttributeError):
        pass
    for obj in torch.serialization.get_safe_globals():
        if isinstance(obj, tuple):
            names.add(obj[1])
        else:
            names.add(f'{obj.__module__}.{obj.__qualname__}')
    return names


def _disallowed_globals(filename: str, kind: str) -> List[str]:
    """The globals of a file that weights-only loading refuses (``ValueError``: unreadable)."""
    if kind == 'zip':
        getter = getattr(torch.serialization, 'get_unsafe_globals_in_checkpoint', None)
        try:
            return list(getter(filename))
        except Exception:  # noqa: BLE001 - e.g. pickle protocols torch's scanner cannot read
            pass
        try:
            with zipfile.ZipFile(filename) as z:
                data = z.read(next(n for n in z.namelist() if n.endswith('/data.pkl')))
        except Exception as err:  # noqa: BLE001 - any failure to read it means it is damaged
            raise ValueError(str(err)) from err
    else:
        with open(filename, 'rb') as f:
            data = f.read()
    allowed = _allowed_global_names()
    return sorted({n for n in _pickle_globals(data) if n not in allowed})


def _corrupt(filename: str, what: str, cause: object = None) -> CorruptCheckpointError:
    text = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200] if cause else ''
    detail = f' ({text})' if text else ''
    return CorruptCheckpointError(f'cannot read checkpoint {filename}: {what}{detail}')


def _unsafe(filename: str, names: List[str], loadable: bool = True) -> UnsafeCheckpointError:
    hint = (f' If you trust this file, set {UNSAFE_ENV}=1 to load it anyway.' if loadable else
            ' It is not a PyTorch checkpoint either (a plain pickle), so it cannot be loaded.')
    return UnsafeCheckpointError(
        f'refusing to load {filename}: it contains pickled objects that are not plain weights '
        f'({", ".join(names)}). Loading it would execute arbitrary code.{hint}')


def load_checkpoint_file(filename: str, map_location=None, mmap: bool = False) -> object:
    """``torch.load`` a local file with ``weights_only=True`` and clear refusal messages.

    ``mmap=True`` maps the tensors instead of reading them (cheap when only metadata is needed;
    files in the zip format only).

    Raises:
        FileNotFoundError: no such file.
        CorruptCheckpointError: the file is empty, truncated, damaged, a TorchScript archive or not
            a PyTorch checkpoint at all.
        UnsafeCheckpointError: the file needs pickled objects other than weights (unpickling it
            could execute code); ``MMPEFT_ALLOW_UNSAFE_CHECKPOINT=1`` loads it anyway.
    """
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    kind = _sniff(filename)
    if kind == 'empty':
        raise _corrupt(filename, 'the file is empty (0 bytes)')
    if kind == 'damaged-zip':
        raise _corrupt(filename, 'the zip archive is truncated or damaged (an interrupted '
                       'download or copy?)')
    if kind == 'torchscript':
        raise _corrupt(filename, 'it is a TorchScript archive (torch.jit.save), not a state dict; '
                       'convert it once with torch.jit.load(FILE).state_dict() if you trust it')
    if kind in ('pickle', 'unknown'):
        try:
            names = _disallowed_globals(filename, 'pickle') if kind == 'pickle' else []
        except ValueError as err:
            raise _corrupt(filename, 'it is not a PyTorch checkpoint', err) from err
        if names:
            raise _unsafe(filename, names, loadable=False)
        with open(filename, 'rb') as f:
            head = f.read(8)
        raise _corrupt(filename, 'it is not a PyTorch checkpoint written by torch.save ('
                       + ('a plain pickle' if kind == 'pickle' else f'starts with {head!r}') + ')')
    kw = dict(map_location=map_location)
    if mmap and kind == 'zip':  # legacy (pre-zip) files cannot be mapped
        kw['mmap'] = True
    unsafe_ok = os.environ.get(UNSAFE_ENV) == '1'
    try:
        return torch.load(filename, weights_only=not unsafe_ok, **kw)
    except pickle.UnpicklingError as err:
        if unsafe_ok:
            raise _corrupt(filename, 'the pickled data is damaged', err) from err
        try:
            names = _disallowed_globals(filename, kind)
        except ValueError as scan_err:
            raise _corrupt(filename, 'the pickled data is truncated or damaged',
                           scan_err) from err
        if names:
            raise _unsafe(filename, names) from err
        raise _corrupt(filename, 'the pickled data is damaged', err) from err
    except Exception as err:  # noqa: BLE001 - whatever torch.load trips over: unreadable
        raise _corrupt(filename, 'the file is truncated or damaged', err) from err


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
