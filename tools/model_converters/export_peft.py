"""Export a trained mmpeft model as a standalone checkpoint and config.

    python tools/model_converters/export_peft.py CONFIG CHECKPOINT OUT_DIR [--merge]
        [--name NAME] [--cfg-options KEY=VALUE ...]

CHECKPOINT is a full or a trainable-only checkpoint (completed from its base file, checked by
sha256). The tool writes ``OUT_DIR/NAME.pth`` (every tensor of the model, nothing pickled but
weights and the dataset meta) and ``OUT_DIR/NAME.py`` (the config without the backbone's
``Pretrained`` base and without ``load_from``), so the model loads without the base file.

``--merge`` folds a re-parameterisable method (LoRA; every method whose module sets
``mergeable = True``) into the frozen weights and writes the upstream backbone's config instead
(mmdet's ``SwinTransformer``, mmpretrain's ViTs; see the backbones' ``upstream_config``). When no
other mmpeft module is left in the config, its mmpeft hooks and ``custom_imports`` go too, and the
exported model runs with mmdet / mmseg / mmrotate alone. A method that cannot be folded (Mona,
Adapter, VPT, HST, ...) is refused with ``--merge``; export it without.

The tool checks its output: the exported checkpoint must load strictly into the model built from
the exported config, whose backbone outputs on a random image must equal the original's (the
largest difference is printed).
"""
import argparse
import copy
import os
import os.path as osp
import sys
from typing import Any, List, Set, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.registry import HOOKS, MODELS, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

import mmpeft  # noqa: F401  (registers the modules, safe checkpoint loading)
from mmpeft.engine.checkpoint import check_checkpoint_fits, restore_checkpoint
from mmpeft.models.backbones.base import PEFTBackboneMixin
from mmpeft.registry import scope_registries


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='the config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='full or trainable-only checkpoint')
    parser.add_argument('out_dir', help='where NAME.py and NAME.pth are written')
    parser.add_argument('--merge', action='store_true',
                        help='fold the method into the frozen weights; upstream backbone')
    parser.add_argument('--name', help='output name (default: the config name, + "_merged")')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings before building the model')
    return parser.parse_args(argv)


# ------------------------------------------------------------------ loading
def load_model(cfg: Config, checkpoint: str) -> Tuple[nn.Module, dict]:
    """The model of ``cfg`` with every tensor from ``checkpoint`` (a trainable-only file is
    completed from its base), in eval mode; and the checkpoint."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get('state_dict', ckpt), dict):
        raise ValueError(f'{checkpoint} holds no state dict')
    if 'state_dict' not in ckpt:
        ckpt = dict(state_dict=ckpt)
    restore_checkpoint(model, ckpt)
    check_checkpoint_fits(model, ckpt, checkpoint, action='export')
    _load_checkpoint_to_model(model, ckpt, strict=True)
    return model.eval(), ckpt


# ------------------------------------------------------------------ the config
def mmpeft_type_names() -> Set[str]:
    """Config ``type`` names that mmpeft registered (models in every scope, hooks)."""
    names = set()
    for reg in scope_registries('MODELS') + [HOOKS]:
        names |= {n for n, c in reg.module_dict.items() if c.__module__.startswith('mmpeft')}
    return names


def is_mmpeft_type(value: Any, names: Set[str]) -> bool:
    if isinstance(value, str):
        return value.split('.')[-1] in names
    return isinstance(value, type) and value.__module__.startswith('mmpeft')


def mmpeft_types_in(obj: Any, names: Set[str], where: str = '') -> List[str]:
    """``'model.neck: SimpleFPN'`` for every mmpeft ``type`` in a config tree."""
    found = []
    if isinstance(obj, dict):
        if is_mmpeft_type(obj.get('type'), names):
            found.append(f"{where or 'config'}: {obj['type']}")
        for k, v in obj.items():
            found += mmpeft_types_in(v, names, f'{where}.{k}' if where else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            found += mmpeft_types_in(v, names, f'{where}[{i}]')
    return found


def drop_mmpeft_hooks(cfg: dict, names: Set[str]) -> None:
    """Remove mmpeft's hooks (custom and default) from ``cfg`` (in place)."""
    hooks = cfg.get('custom_hooks')
    if hooks:
        cfg['custom_hooks'] = [h for h in hooks if not is_mmpeft_type(h.get('type'), names)]
    for key, hook in list((cfg.get('default_hooks') or {}).items()):
        if isinstance(hook, dict) and is_mmpeft_type(hook.get('type'), names):
            del cfg['default_hooks'][key]


def drop_mmpeft_import(cfg: dict) -> None:
    """Remove ``mmpeft`` from ``custom_imports`` (and the key if nothing is left)."""
    imports = cfg.get('custom_imports')
    if not imports:
        return
    rest = [m for m in imports.get('imports', []) if m != 'mmpeft' and
            not m.startswith('mmpeft.')]
    if rest:
        cfg['custom_imports'] = dict(imports, imports=rest)
    else:
        del cfg['custom_imports']


def export(cfg: Config, checkpoint: str, merge: bool) -> Tuple[Config, dict, nn.Module, nn.Module]:
    """``(exported config, exported checkpoint, exported model, original model)``."""
    model, ckpt = load_model(cfg, checkpoint)
    original = copy.deepcopy(model)
    out = copy.deepcopy(cfg.to_dict())
    backbone_cfg = out['model']['backbone']
    for key in ('init_cfg', 'pretrained'):
        backbone_cfg.pop(key, None)
    out['load_from'] = None
    out['resume'] = False
    record = dict(source=osp.abspath(checkpoint), merged=merge)
    if merge:
        backbone = model.backbone
        if not isinstance(backbone, PEFTBackboneMixin):
            raise ValueError(f'--merge: the backbone {type(backbone).__name__} is not an mmpeft '
                             'backbone; there is nothing to merge')
        upstream = type(backbone).upstream_config(backbone_cfg)
        record['folded_modules'] = backbone.fold_peft()
        out['model']['backbone'] = upstream
        names = mmpeft_type_names()
        if not mmpeft_types_in(out['model'], names):
            drop_mmpeft_hooks(out, names)
            drop_mmpeft_import(out)
    meta = dict(mmpeft_export=record)
    dataset_meta = (ckpt.get('meta') or {}).get('dataset_meta')
    if dataset_meta is not None:
        meta['dataset_meta'] = dataset_meta
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return Config(out), dict(meta=meta, state_dict=state), model, original


# ------------------------------------------------------------------ the check
def backbone_outputs(model: nn.Module, size: int = 224) -> List[torch.Tensor]:
    torch.manual_seed(0)
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        out = model.backbone(x)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def check_export(cfg: Config, ckpt: dict, original: nn.Module) -> float:
    """Build the exported config, load the exported state strictly, compare the backbone outputs
    with the original model's; returns the largest absolute difference."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    rebuilt = MODELS.build(cfg.model)
    rebuilt.load_state_dict(ckpt['state_dict'], strict=True)
    rebuilt.eval()
    diffs = [(a - b).abs().max().item() for a, b in
             zip(backbone_outputs(original), backbone_outputs(rebuilt))]
    return max(diffs)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    print(f'loading {args.checkpoint} into the model of {args.config}'
          + (' and folding its method' if args.merge else ''), flush=True)
    try:
        exported, ckpt, _, original = export(cfg, args.checkpoint, args.merge)
    except (ValueError, NotImplementedError) as err:
        print(f'export_peft: {err}', file=sys.stderr)
        return 1
    name = args.name or (osp.splitext(osp.basename(args.config))[0] +
                         ('_merged' if args.merge else ''))
    os.makedirs(args.out_dir, exist_ok=True)
    cfg_path = osp.join(args.out_dir, name + '.py')
    ckpt_path = osp.join(args.out_dir, name + '.pth')
    exported.dump(cfg_path)
    torch.save(ckpt, ckpt_path)
    print('checking: the exported config and checkpoint against the original model', flush=True)
    diff = check_export(Config.fromfile(cfg_path), ckpt, original)
    backbone = exported.model.backbone.get('type')
    print(f'wrote {cfg_path} (backbone {backbone}) and {ckpt_path} '
          f'({len(ckpt["state_dict"])} tensors); backbone outputs differ from the original by '
          f'at most {diff:.3g}')
    if args.merge:
        imports = exported.get('custom_imports')
        print(f"folded {ckpt['meta']['mmpeft_export']['folded_modules']} modules; "
              + ('the config needs mmpeft (custom_imports) for: ' +
                 ', '.join(mmpeft_types_in(exported.to_dict()['model'], mmpeft_type_names()))
                 if imports and 'mmpeft' in imports.get('imports', []) else
                 'the config needs no mmpeft module'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
