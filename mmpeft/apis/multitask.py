"""Many tasks on one frozen base: "1 large vision model + n small files" in one process.

:class:`SharedBaseModels` loads trainable-only task checkpoints (``TrainableCheckpointHook``) whose
base checkpoints are the same files (by sha256). The frozen weights a task file leaves out come
from the base; they are read once, by the first task on that base, and every later task's model
gets the *same* parameter objects (no copy: equal ``data_ptr``). Only the heads, the method's
modules and the buffers are per task.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.model import revert_sync_batchnorm

from mmpeft.compat import load_checkpoint_file
from mmpeft.engine.checkpoint import META_KEY, check_bases, is_trainable_only

from .inference import ConfigType, build_model, dataset_meta, inference_model, load_config


class SharedBaseError(ValueError):
    """A task checkpoint cannot share the base weights of the tasks loaded before it."""


def _set_parameter(model: nn.Module, key: str, param: nn.Parameter) -> None:
    owner, _, name = key.rpartition('.')
    module = model.get_submodule(owner)
    if name not in module._parameters:
        raise SharedBaseError(f'{key} is not a parameter of the model')
    module._parameters[name] = param


class SharedBaseModels:
    """Task models that share one copy of their frozen base weights.

    Example::

        tasks = SharedBaseModels(device='cpu')
        tasks.add('coco', 'mask-rcnn_swin-b-mona.py', 'coco_mona.pth')
        tasks.add('ade20k', 'upernet_swin-b-mona.py', 'ade20k_mona.pth')
        predictions = tasks.predict('demo.jpg')   # {'coco': DetDataSample, 'ade20k': ...}

    Args:
        device: where the models (and the one copy of the base weights) live.
    """

    def __init__(self, device: str = 'cpu') -> None:
        self.device = device
        self.models: Dict[str, nn.Module] = OrderedDict()
        self.bases: Optional[List[dict]] = None  # the base files every task was trained on
        self._first: Optional[str] = None
        # (base sha256, key inside the based module) -> the one shared parameter
        self._shared: Dict[Tuple[str, str], nn.Parameter] = {}
        self.shared_keys: Dict[str, List[str]] = {}  # task -> its keys that come from the base

    def __len__(self) -> int:
        return len(self.models)

    def _check_same_bases(self, name: str, checkpoint: str, bases: List[dict]) -> None:
        for b in bases:
            if not b.get('sha256'):
                raise SharedBaseError(
                    f"task '{name}' ({checkpoint}): its base {b['path']} has no recorded sha256 "
                    '(not a local file when it was trained), so it cannot be shown to be the '
                    'same base as the other tasks')
        if self.bases is None:
            return
        mine = {b['sha256'] for b in bases}
        theirs = {b['sha256'] for b in self.bases}
        if mine != theirs:
            raise SharedBaseError(
                f"task '{name}' ({checkpoint}) was trained on another base than task "
                f"'{self._first}': "
                + ', '.join(f"{b['path']} (sha256 {b['sha256']})" for b in bases) + ' vs '
                + ', '.join(f"{b['path']} (sha256 {b['sha256']})" for b in self.bases)
                + '. Only tasks trained on the same base checkpoint can share it.')

    def add(self, name: str, config: ConfigType, checkpoint: str,
            cfg_options: Optional[dict] = None) -> nn.Module:
        """Build task ``name`` from its config and trainable-only ``checkpoint``; its frozen base
        weights are those of the tasks added before (read from the base file for the first).

        Raises:
            SharedBaseError: the file is a full checkpoint, its base differs (sha256) from the
                other tasks', or it needs base weights the first task's model does not have.
            BaseCheckpointMismatchError: the config loads another base file than the task was
                trained on.
        """
        if name in self.models:
            raise ValueError(f"task '{name}' is already loaded")
        cfg = load_config(config, cfg_options)
        ckpt = load_checkpoint_file(checkpoint, map_location='cpu')
        if not (isinstance(ckpt, dict) and is_trainable_only(ckpt)):
            raise SharedBaseError(
                f"task '{name}': {checkpoint} is not a trainable-only checkpoint (written by "
                'TrainableCheckpointHook), so there is no base to share; load it alone with '
                'mmpeft.apis.init_model')
        bases = ckpt['meta'][META_KEY].get('bases', [])
        self._check_same_bases(name, checkpoint, bases)
        model = build_model(cfg)
        check_bases(model, ckpt['meta'][META_KEY])
        state = {k[len('module.'):] if k.startswith('module.') else k: v
                 for k, v in ckpt['state_dict'].items()}
        from_base = self._base_keys(name, checkpoint, model, state, bases)
        if any(slot not in self._shared for slot in from_base.values()):
            if any(sha == b['sha256'] for sha, _ in self._shared for b in bases):
                missing = [k for k, slot in from_base.items() if slot not in self._shared]
                raise SharedBaseError(
                    f"task '{name}' needs {len(missing)} base weights that the model of task "
                    f"'{self._first}' does not have (e.g. {missing[:3]}): its backbone lays "
                    'the base out differently; give it a separate model')
            model.init_weights()  # the one read of the base files
            params = dict(model.named_parameters())
            for key, slot in from_base.items():
                self._shared[slot] = params[key]
        else:
            for key, slot in from_base.items():
                _set_parameter(model, key, self._shared[slot])
        result = model.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise SharedBaseError(
                f"task '{name}': {checkpoint} has {len(result.unexpected_keys)} tensors the "
                f'model of its config does not have (e.g. {result.unexpected_keys[:3]})')
        model.dataset_meta = dataset_meta(cfg, ckpt)
        if torch.device(self.device).type == 'cpu':
            model = revert_sync_batchnorm(model)
        model = model.to(self.device).eval()
        if self.bases is None:
            self.bases, self._first = bases, name
        self.models[name] = model
        self.shared_keys[name] = list(from_base)
        return model

    @staticmethod
    def _base_keys(name: str, checkpoint: str, model: nn.Module, state: dict,
                   bases: List[dict]) -> Dict[str, Tuple[str, str]]:
        """``{model key: (base sha256, key inside the based module)}`` for every tensor of the
        model that the task file leaves to its base."""
        params = dict(model.named_parameters())
        found = {}
        for key in model.state_dict():
            if key in state:
                continue
            base = next((b for b in bases if b['module'] == '' or key == b['module']
                         or key.startswith(b['module'] + '.')), None)
            if base is None or key not in params:
                raise SharedBaseError(
                    f"task '{name}': {checkpoint} lacks {key}, which is not a parameter loaded "
                    'from its base checkpoint (saved from another model?)')
            found[key] = (base['sha256'], key[len(base['module']) + 1:] if base['module']
                          else key)
        return found

    def predict(self, image: Union[str, np.ndarray],
                tasks: Optional[List[str]] = None) -> Dict[str, object]:
        """Every task's (or the named tasks') prediction for one image."""
        return {name: inference_model(self.models[name], image)
                for name in (tasks or list(self.models))}

    def shared_bytes(self) -> int:
        """Bytes of the base weights held once for all tasks."""
        return sum(p.numel() * p.element_size() for p in self._shared.values())

    def task_bytes(self, name: str) -> int:
        """Bytes of task ``name``'s own tensors (parameters and buffers not shared)."""
        model = self.models[name]
        shared = {id(p) for p in self._shared.values()}
        own = [t for t in list(model.parameters()) + list(model.buffers()) if id(t) not in shared]
        return sum(t.numel() * t.element_size() for t in own)


def default_task_name(config: str) -> str:
    """A task's name from its config file name (``upernet_swin-l-mona_...`` -> its stem)."""
    return osp.splitext(osp.basename(config))[0]
