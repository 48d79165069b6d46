"""Generate a small deterministic synthetic dataset in COCO / ADE20K / VOC / DOTA layout.

Example::

    python tools/misc/make_synthetic_data.py --format coco --out data/synth_coco
    python tools/misc/make_synthetic_data.py --format voc --out data/synth_voc --num-train 16
"""
import argparse
import os
import sys

try:
    from mmpeft.testing.synthetic import FORMATS, make_dataset
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
    from mmpeft.testing.synthetic import FORMATS, make_dataset


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--format', required=True, choices=FORMATS, help='dataset layout')
    parser.add_argument('--out', required=True, help='output root directory')
    parser.add_argument('--num-train', type=int, default=8, help='train/trainval images')
    parser.add_argument('--num-val', type=int, default=4, help='val/test images')
    parser.add_argument('--img-size', type=int, nargs='+', default=[256],
                        help='image size: W (square) or W H')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--classes', default=None,
        help='comma-separated class names (coco/voc/dota) or ADE label values 1..150 (ade20k)')
    args = parser.parse_args(argv)
    if len(args.img_size) not in (1, 2):
        parser.error('--img-size takes W or W H')
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f'--out {args.out} is an existing file, not a directory')
    if args.classes:
        names = [c.strip() for c in args.classes.split(',') if c.strip()]
        if args.format == 'ade20k':
            if not all(n.isdigit() and 1 <= int(n) <= 150 for n in names):
                parser.error(f'--format ade20k: --classes takes ADE20K label values 1..150 '
                             f'(integers, e.g. 1,3,13), got {args.classes!r}')
            args.labels = [int(n) for n in names]
        args.classes = names
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    kwargs = dict(num_train=args.num_train, num_val=args.num_val, seed=args.seed,
                  img_size=args.img_size[0] if len(args.img_size) == 1 else tuple(args.img_size))
    if args.classes:
        if args.format == 'ade20k':
            kwargs['labels'] = args.labels
        else:
            kwargs['classes'] = args.classes
    try:
        os.makedirs(args.out, exist_ok=True)
        summary = make_dataset(args.format, args.out, **kwargs)
    except OSError as err:
        print(f'error: cannot write the dataset to --out {args.out}: {err.strerror or err}',
              file=sys.stderr)
        return 2
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    w, h = summary['img_size']
    print(f"wrote {summary['format']} dataset to {summary['root']} "
          f"({w}x{h}, seed {summary['seed']})")
    print(f"classes: {', '.join(str(c) for c in summary['classes'])}")
    for split, info in summary['splits'].items():
        paths = ', '.join(f'{k}={v}' for k, v in info.items() if k.endswith(('_file', '_dir')))
        print(f"  {split}: {info['num_images']} images, {info['num_objects']} objects ({paths})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
