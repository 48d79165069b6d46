"""Train a detector, segmentor, rotated detector or classifier from an OpenMMLab 2.0 config.

Works like the upstream ``tools/train.py`` of mmdet/mmseg/mmrotate and imports mmpeft first, so
its compatibility layer and modules are available to every config.
"""
import argparse
import logging
import os.path as osp

from mmengine.logging import print_log

import mmpeft  # noqa: F401  (compat layer + registration)

from runner_utils import (
    add_common_args,
    build_runner,
    enable_amp,
    finish_distributed,
    load_config,
    parse_common,
    resolve_resume,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the real batch size (auto_scale_lr in the config)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in the work dir')
    add_common_args(parser)
    return parse_common(parser)


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise RuntimeError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    resolve_resume(cfg, args.resume)

    runner = build_runner(cfg)
    print_log(f'work dir: {osp.abspath(cfg.work_dir)}', logger='current', level=logging.INFO)
    runner.train()
    finish_distributed(runner)


if __name__ == '__main__':
    main()
