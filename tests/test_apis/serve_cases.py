"""Tiny det / seg / rotated task models on one tiny Swin base, saved as trainable-only files."""
import os.path as osp

import cv2
import numpy as np
import torch

from e2e_utils import FAMILIES, shrink_config

# task -> (family of e2e_utils.FAMILIES, test image scale factor, overrides): small test scales
# and few proposals keep a CPU prediction at about a second; every box is kept (score_thr 0), so
# that the untrained heads draw something
_FEW_BOXES = {'model.test_cfg.rpn.nms_pre': 200, 'model.test_cfg.rpn.max_per_img': 50,
              'model.test_cfg.rcnn.score_thr': 0.0, 'model.test_cfg.rcnn.max_per_img': 10}
TASKS = {
    'det': ('coco', 0.12, _FEW_BOXES),
    'seg': ('ade20k', 0.25, {}),
    'rot': ('dota', 0.125, _FEW_BOXES),
}


def write_task_files(config: str, out_stem: str, seed: int):
    """``(trainable-only file, full file)`` of the config's model "trained" by perturbing every
    trainable tensor; written as ``TrainableCheckpointHook`` writes them."""
    from mmpeft.apis import init_model
    from mmpeft.engine.checkpoint import shrink_checkpoint
    model = init_model(config)  # base weights from the Pretrained init_cfg
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    full = dict(meta=dict(dataset_meta=model.dataset_meta),
                state_dict={k: v.clone() for k, v in model.state_dict().items()})
    torch.save(full, out_stem + '_full.pth')
    small = dict(meta=dict(full['meta']), state_dict=dict(full['state_dict']))
    shrink_checkpoint(model, small)
    torch.save(small, out_stem + '.pth')
    return out_stem + '.pth', out_stem + '_full.pth'


def task_config(task: str, base: str, out_file: str) -> str:
    family, size_factor, extra = TASKS[task]
    return shrink_config(FAMILIES[family]['config'], osp.join(osp.dirname(out_file), 'data'), base,
                         out_file, {}, size_factor, extra)


def write_image(path: str) -> str:
    """A 120x160 picture with a few coloured shapes."""
    rng = np.random.RandomState(0)
    img = (rng.rand(120, 160, 3) * 60 + 90).astype(np.uint8)
    cv2.rectangle(img, (10, 15), (70, 60), (30, 30, 200), -1)
    cv2.circle(img, (115, 80), 25, (40, 180, 40), -1)
    cv2.imwrite(path, img)
    return path
