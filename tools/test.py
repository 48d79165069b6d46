"""Test (evaluate) a checkpoint with an OpenMMLab 2.0 config; imports mmpeft first.

The checkpoint must set every weight of the model the config builds (a trainable-only file is
completed from its base weights first): a backbone-only file, a converted file without heads, or
the checkpoint of another model would otherwise be evaluated with random weights. Pass
``--allow-partial-checkpoint`` to evaluate anyway.
"""
import argparse
import os

import mmpeft  # noqa: F401  (compat layer + registration)

from runner_utils import (
    add_common_args,
    build_runner,
    finish_distributed,
    load_config,
    parse_common,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--allow-partial-checkpoint', action='store_true',
                        help='evaluate even if the checkpoint leaves weights of the model at '
                        'their initial values (they are listed as a warning)')
    add_common_args(parser)
    return parse_common(parser)


def main() -> None:
    args = parse_args()
    if not os.path.isfile(args.checkpoint):
        raise SystemExit(f'error: checkpoint file not found: {args.checkpoint}')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    # the checkpoint must fit the model (CheckpointLoadHook, a default hook once mmpeft is imported)
    load_hook = dict(cfg.get('default_hooks', {}).get('checkpoint_load')
                     or dict(type='CheckpointLoadHook'))
    load_hook['strict'] = not args.allow_partial_checkpoint
    cfg.setdefault('default_hooks', {})['checkpoint_load'] = load_hook
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        evaluators = cfg.test_evaluator
        evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
        cfg.test_evaluator = evaluators + [dict(type='DumpResults', out_file_path=args.out)]

    runner = build_runner(cfg)
    runner.test()
    finish_distributed(runner)


if __name__ == '__main__':
    main()
