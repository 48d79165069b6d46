"""Tiny models, data and hooks for tests that run an mmengine Runner on CPU."""
from typing import Dict, List, Optional, Set

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.backbones import SwinTransformer
from mmengine.hooks import Hook
from mmengine.model import BaseModel, is_model_wrapper
from torch.utils.data import Dataset

SWIN = dict(embed_dims=16, depths=(1, 1, 1, 2), num_heads=(1, 1, 1, 1), window_size=7,
            out_indices=(3, ), drop_path_rate=0.1)


class TinyDetector(BaseModel):
    """A backbone (tiny mmdet Swin), a 'neck' and a 'head': enough structure for the hook."""

    def __init__(self, backbone: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.backbone = backbone if backbone is not None else SwinTransformer(**SWIN)
        self.neck = nn.Linear(128, 32)
        self.head = nn.Linear(32, 3)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        feat = self.backbone(x)[-1].mean((2, 3))
        logits = self.head(torch.relu(self.neck(feat)))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, torch.stack(data_samples)))
        return logits


class TinyData(Dataset):
    metainfo: dict = {}

    def __init__(self, n: int = 8, size: int = 64) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 3, size, size, generator=g)
        self.y = torch.randint(0, 3, (n, ), generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return dict(inputs=self.x[i], data_samples=self.y[i])


class Snapshot(Hook):
    """Parameters after weight init/loading (before_train) and after training."""
    priority = 'LOWEST'

    def __init__(self) -> None:
        self.before: Dict[str, torch.Tensor] = {}
        self.after: Dict[str, torch.Tensor] = {}
        self.train_modes: List[Dict[str, bool]] = []

    @staticmethod
    def _params(runner) -> Dict[str, torch.Tensor]:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return {n: p.detach().clone() for n, p in model.named_parameters()}

    def before_train(self, runner) -> None:
        self.before = self._params(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.train_modes.append({n: m.training for n, m in model.named_modules()})

    def after_train(self, runner) -> None:
        self.after = self._params(runner)

    def changed(self) -> Set[str]:
        return {n for n in self.before if not torch.equal(self.before[n], self.after[n])}
