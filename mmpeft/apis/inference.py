"""Inference on single images for detection, instance/semantic segmentation and rotated detection.

One model API for the three OpenMMLab task libraries (``default_scope`` of the config: ``mmdet``,
``mmseg`` or ``mmrotate``): :func:`init_model` builds a model from its config and loads a
checkpoint (trainable-only files are completed from their base weights), :func:`inference_model`
runs the config's test pipeline on an image, and :func:`draw_prediction` draws the prediction with
the library's own visualizer (mmdet's ``DetLocalVisualizer``, mmseg's ``SegLocalVisualizer``,
mmrotate's ``RotLocalVisualizer``).
"""
import copy
import uuid
from typing import Optional, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from mmpeft.compat import load_checkpoint_file
from mmpeft.engine.checkpoint import check_checkpoint_fits, restore_checkpoint

ConfigType = Union[str, Config]
SCOPES = ('mmdet', 'mmseg', 'mmrotate')


def load_config(config: ConfigType, cfg_options: Optional[dict] = None) -> Config:
    """A config (path or object, copied) with ``cfg_options`` merged, its ``custom_imports``
    imported and its ``default_scope`` (one of :data:`SCOPES`) made the default."""
    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(f'config default_scope is {scope!r}; image inference supports {SCOPES}')
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(scope)
    return cfg


def build_model(cfg: Config) -> nn.Module:
    """The config's model, built in its scope without loading any weights; ``model.cfg`` is set."""
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model)
    model.cfg = cfg
    return model


def load_weights(model: nn.Module, checkpoint: str) -> dict:
    """Load ``checkpoint`` into ``model``, exactly as ``tools/test.py`` does, and return it.

    A trainable-only file (``TrainableCheckpointHook``) is completed from the base checkpoints of
    the model's config after checking their sha256
    (:func:`~mmpeft.engine.checkpoint.restore_checkpoint`); every tensor of the model must then
    come from the checkpoint (:func:`~mmpeft.engine.checkpoint.check_checkpoint_fits`).
    """
    ckpt = load_checkpoint_file(checkpoint, map_location='cpu')
    if not isinstance(ckpt, dict):
        raise TypeError(f'{checkpoint} holds a {type(ckpt).__name__}, not a checkpoint dict')
    if 'state_dict' not in ckpt:
        ckpt = dict(state_dict=ckpt)
    restore_checkpoint(model, ckpt)
    check_checkpoint_fits(model, ckpt, checkpoint, action='inference')
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in ckpt['state_dict'].items()}
    model.load_state_dict(state, strict=False)  # extra keys allowed, missing ones refused above
    return ckpt


def dataset_meta(cfg: Config, checkpoint: Optional[dict] = None) -> dict:
    """Class names and palette: from the checkpoint (the runner records the training set's), or
    else from the test dataset of the config."""
    meta = ((checkpoint or {}).get('meta') or {}).get('dataset_meta')
    if meta:
        return dict(meta)
    from mmengine.registry import DATASETS
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset and 'metainfo' not in dataset:  # wrappers (ConcatDataset, ...)
        dataset = dataset.dataset
    with DATASETS.switch_scope_and_registry(dataset.get('_scope_', cfg.default_scope)) as reg:
        meta = dict(getattr(reg.get(dataset.type), 'METAINFO', {}))
    meta.update(dataset.get('metainfo') or {})
    return meta


def init_model(config: ConfigType, checkpoint: Optional[str] = None, device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the config's model, load ``checkpoint`` (trainable-only or full) and put it in eval
    mode on ``device``; ``model.cfg`` and ``model.dataset_meta`` are set for inference and
    drawing. Without a checkpoint the model is initialised from its config (base weights)."""
    cfg = load_config(config, cfg_options)
    model = build_model(cfg)
    ckpt = None
    if checkpoint is None:
        model.init_weights()
    else:
        ckpt = load_weights(model, checkpoint)
    model.dataset_meta = dataset_meta(cfg, ckpt)
    if torch.device(device).type == 'cpu':
        model = revert_sync_batchnorm(model)  # SyncBN refuses CPU tensors
    return model.to(device).eval()


def test_pipeline(cfg: Config, from_array: bool = False) -> Compose:
    """The config's test pipeline without annotation loading (and without image loading when the
    image is given as an array)."""
    steps = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    steps = [s for s in steps if not str(s['type']).endswith('LoadAnnotations')]
    if from_array:
        if 'LoadImage' not in str(steps[0]['type']):
            raise ValueError(f'the test pipeline starts with {steps[0]["type"]}, not an image '
                             'loader; pass an image path instead of an array')
        steps = steps[1:]
    return Compose(steps)


@torch.no_grad()
def inference_model(model: nn.Module, image: Union[str, np.ndarray]):
    """The model's prediction (a ``DetDataSample`` or ``SegDataSample``) for one image: a path,
    or an array in BGR order as ``mmcv.imread`` gives it."""
    init_default_scope(model.cfg.default_scope)
    if isinstance(image, np.ndarray):
        data = dict(img=image, img_shape=image.shape[:2], ori_shape=image.shape[:2], img_id=0)
        data = test_pipeline(model.cfg, from_array=True)(data)
    else:
        data = test_pipeline(model.cfg)(dict(img_path=image, img_id=0))
    return model.test_step(pseudo_collate([data]))[0]


def build_visualizer(model: nn.Module):
    """The upstream visualizer for the model's task library, with its class names and palette."""
    scope = model.cfg.default_scope
    if scope == 'mmdet':
        from mmdet.visualization import DetLocalVisualizer as Visualizer
    elif scope == 'mmseg':
        from mmseg.visualization import SegLocalVisualizer as Visualizer
    elif scope == 'mmrotate':
        from mmrotate.visualization import RotLocalVisualizer as Visualizer
    else:
        raise ValueError(f'no visualizer for default_scope {scope!r}; supported: {SCOPES}')
    visualizer = Visualizer(name=f'mmpeft-{scope}-{uuid.uuid4().hex[:8]}')
    visualizer.dataset_meta = model.dataset_meta
    return visualizer


def draw_prediction(visualizer, image: Union[str, np.ndarray], prediction,
                    out_file: Optional[str] = None, score_thr: float = 0.3) -> np.ndarray:
    """Draw ``prediction`` on ``image`` (path or BGR array); returns the RGB picture and writes it
    to ``out_file`` if given. ``score_thr``: boxes below this score are not drawn (detection)."""
    import mmcv
    img = mmcv.imread(image, channel_order='rgb') if isinstance(image, str) else \
        mmcv.bgr2rgb(image)
    kwargs = dict(draw_gt=False, show=False, out_file=out_file)
    if not type(visualizer).__name__.startswith('Seg'):
        kwargs['pred_score_thr'] = score_thr
    visualizer.add_datasample('prediction', img, data_sample=prediction, **kwargs)
    return visualizer.get_image()
