"""Convert a Swin checkpoint, or one trained with the reference code of a PEFT method, to mmpeft's
backbone layout.

    python tools/model_converters/mona2mmpeft.py SRC DST [--method mona|adapter|adaptformer|lora|
        lorand] [--prefix PREFIX] [--out-prefix PREFIX]

SRC may be (auto-detected):
  * an official Microsoft Swin checkpoint
    (``{'model': {'layers.0.blocks.0.attn.qkv.weight': ...}}``, also with a ``backbone.`` prefix
    and no wrapper, as the Mona repository uses them);
  * an mmdet/mmseg converted Swin checkpoint (``stages.*``, with or without ``backbone.``);
  * a checkpoint trained with the official Mona code (Microsoft layout + ``my_module_1/2``
    modules, ``backbone.`` prefix, ``state_dict`` wrapper; neck/head keys are dropped): with
    ``--method`` (default ``mona``) naming what was trained there, ``my_module_k`` becomes that
    method's k-th module (Mona ``mona1/2``, Adapter ``adapter1/2``, AdaptFormer ``adapter``;
    LoRA's ``attn.qkv.lora_A/B`` follow ``attn.qkv``);
  * an mmpeft or STAR-MMRotate checkpoint (mmdet layout, normalised as is).

DST is a plain state dict (``torch.save`` of ``{key: tensor}``, no pickled objects) whose keys are
mmpeft backbone keys with a ``backbone.`` prefix
(``backbone.stages.0.blocks.0.attn.w_msa.qkv.weight``,
``backbone.stages.0.blocks.0.mona1.project1.weight``). It loads both through
``model.backbone.init_cfg=dict(type='Pretrained', checkpoint=DST)`` and through ``load_from=DST``.
PatchMerging channels are re-ordered for mmdet's ``nn.Unfold`` implementation; relative position
indices, attention masks, output norms, the final classification norm and head are dropped.
"""
import argparse
import os.path as osp
import sys

import torch

import mmpeft  # noqa: F401  (safe checkpoint loading)
from mmpeft.checkpoint import read_state_dict, to_mmpeft_checkpoint
from mmpeft.models.peft import Site, peft_module_class

METHODS = {'mona': 'Mona', 'adapter': 'Adapter', 'adaptformer': 'AdaptFormer', 'lora': 'LoRA',
           'lorand': 'LoRand'}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='source checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--prefix', default=None,
                        help='key prefix of the backbone in SRC (default: "backbone." if present)')
    parser.add_argument('--out-prefix', default='backbone.',
                        help='key prefix written to DST (default: "backbone.")')
    parser.add_argument('--method', default='mona', choices=sorted(METHODS),
                        help='the PEFT method SRC was trained with (names its my_module_k)')
    return parser.parse_args(argv)


def official_names(method: str) -> dict:
    """``{'my_module_k': name}`` of ``method``'s block modules in insertion order."""
    cls = peft_module_class(dict(type=METHODS[method]))
    names = [name for name, site in cls.placements({}) if site != Site.QKV]
    return {f'my_module_{k + 1}': name for k, name in enumerate(names)}


def main(argv=None) -> int:
    args = parse_args(argv)
    if osp.abspath(args.src) == osp.abspath(args.dst):
        sys.exit('refusing to overwrite the source checkpoint')
    state = read_state_dict(args.src)
    names = official_names(args.method)
    out, layout = to_mmpeft_checkpoint(state, prefix=args.prefix, out_prefix=args.out_prefix,
                                       official_names=names)
    torch.save(dict(out), args.dst)
    modules = tuple(f'.{n}.' for n in names.values()) + ('.lora_', '.lorand')
    n_method = sum(any(m in k for m in modules) for k in out)
    print(f'{args.src}: layout "{layout}", wrote {len(out)} tensors '
          f'({n_method} tensors of the method\'s modules) to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
