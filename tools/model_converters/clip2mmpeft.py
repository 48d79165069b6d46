"""Turn an OpenAI CLIP TorchScript archive (``ViT-B-16.pt``, ...) into plain weights.

    python tools/model_converters/clip2mmpeft.py SRC DST [--vision-only]

OpenAI ships its CLIP models as TorchScript archives, which mmpeft's safe loading refuses: reading
one runs the code stored in it. This tool does that once, with ``torch.jit.load``, **trusting the
file** (convert only archives you got from OpenAI's release), and writes its state dict with
``torch.save`` as a plain ``{key: tensor}`` file in OpenAI's own layout (``visual.conv1.weight``,
``visual.transformer.resblocks.N.*``, ...). ``PEFTViT`` loads DST through
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` (layout ``openai-clip``, auto-detected).
``--vision-only`` keeps the ``visual.*`` keys (about a third of the size for ViT-L/14).
"""
import argparse
import os.path as osp
import sys

import torch


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help="OpenAI's CLIP .pt (TorchScript archive), trusted")
    parser.add_argument('dst', help='output file (plain state dict)')
    parser.add_argument('--vision-only', action='store_true',
                        help='keep only the visual tower (visual.*)')
    return parser.parse_args(argv)


def convert(src: str, dst: str, vision_only: bool = False) -> int:
    """Write the tensors of the TorchScript archive ``src`` to ``dst``; returns their count."""
    print(f'{src}: loading a TorchScript archive runs its code; trusting it as an OpenAI CLIP '
          'release', file=sys.stderr)
    state = torch.jit.load(src, map_location='cpu').state_dict()
    out = {k: v.detach().clone() for k, v in state.items()
           if isinstance(v, torch.Tensor) and (not vision_only or k.startswith('visual.'))}
    if not any(k.startswith('visual.') for k in out):
        raise SystemExit(f'{src}: no visual.* weights: not an OpenAI CLIP model')
    torch.save(out, dst)
    return len(out)


def main(argv=None) -> None:
    args = parse_args(argv)
    if osp.abspath(args.src) == osp.abspath(args.dst):
        raise SystemExit('DST must differ from SRC')
    n = convert(args.src, args.dst, args.vision_only)
    print(f'wrote {n} tensors to {args.dst}')


if __name__ == '__main__':
    main()
