"""Print the trainable/total parameter table of a config's model without training.

Builds ``cfg.model`` in the config's ``default_scope`` (mmdet, mmseg or mmrotate). If
``custom_hooks`` contains a ``FreezeBackboneHook``, the same freezing is applied first (and a
backbone that froze itself is verified against its patterns), so the numbers are those the
training run will log.

Usage: python tools/analysis/count_params.py CONFIG [--cfg-options KEY=VALUE ...]
"""
import argparse
import sys
from typing import List, Optional

from mmengine.config import Config, DictAction
from mmengine.registry import MODELS, init_default_scope

import mmpeft  # noqa: F401  (compat layer + registration)
from mmpeft.engine.hooks import FreezeBackboneHook
from mmpeft.models.utils import (
    FreezeConfigError,
    apply_freeze,
    check_trainable_ratio,
    resolve_module,
    trainable_table,
)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Count trainable and total parameters')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(argv)


def freeze_hook_cfgs(cfg: Config) -> List[dict]:
    """The ``FreezeBackboneHook`` entries of ``cfg.custom_hooks``."""
    found = []
    for hook in cfg.get('custom_hooks') or []:
        kind = hook.get('type') if isinstance(hook, dict) else hook
        if kind is FreezeBackboneHook or (isinstance(kind, str)
                                          and kind.split('.')[-1] == 'FreezeBackboneHook'):
            found.append(hook)
    return found


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)

    focus = 'backbone'
    for hook_cfg in freeze_hook_cfgs(cfg):
        kwargs = {k: v for k, v in hook_cfg.items() if k not in ('type', 'priority')}
        hook = FreezeBackboneHook(**kwargs)
        report = apply_freeze(resolve_module(model, hook.module), hook.trainable, hook.module)
        focus = hook.module
        if hook.trainable is None:
            what = 'the module keeps its own freezing'
        elif report.mode == 'verified':
            what = 'verified (the module froze itself as the patterns say)'
        else:
            what = f'{len(report.changed)} tensors frozen'
        print(f'FreezeBackboneHook: module={hook.module!r} trainable={hook.trainable}: {what}')
        try:
            check_trainable_ratio(report, hook.max_trainable_ratio)
        except FreezeConfigError as err:
            print(f'WARNING: training would fail: {err}')
    print(trainable_table(model, focus=focus))
    return 0


if __name__ == '__main__':
    sys.exit(main())
