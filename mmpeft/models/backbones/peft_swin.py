"""PEFT methods in mmdet's Swin Transformer: a method's modules at their sites in every block.

This is the one place that knows how mmdet's ``SwinBlock`` exposes its parts to
:class:`~mmpeft.models.backbones.peft_block.PEFTBlockMixin` (the site-aware forward, written once
for every family; see :mod:`mmpeft.models.peft.base` for the sites). The blocks, built by mmdet,
are converted in place (:func:`~mmpeft.models.utils.convert_module`): every Swin parameter keeps
its name, so mmdet/mmseg/Microsoft checkpoints load unchanged, and each method module is attached
to its block under its own name (``stages.i.blocks.j.mona1`` ...).
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.models.backbones.swin import SwinBlock, SwinBlockSequence, SwinTransformer

from mmpeft.checkpoint import LoadReport, load_swin_checkpoint
from mmpeft.models.peft import Site, peft_module_class
from mmpeft.models.utils import convert_module
from mmpeft.registry import register_model

from .base import PEFTBackboneMixin
from .peft_block import PEFTBlockMixin, insert_method, run_blocks


class SwinBackboneMixin(PEFTBackboneMixin):
    """:class:`PEFTBackboneMixin` for backbones on mmdet's ``SwinTransformer``: their arguments and
    every Swin checkpoint layout (Microsoft, official Mona, mmdet/mmseg, mmpeft; auto-detected)."""

    def load_pretrained(self, checkpoint: str, map_location: str = 'cpu',
                        allow_missing: bool = False) -> LoadReport:
        """Load a Swin checkpoint in any supported layout (see :func:`load_swin_checkpoint`)."""
        report = load_swin_checkpoint(self, checkpoint, map_location=map_location,
                                      pretrained=self.is_pretrained_param,
                                      allow_missing=allow_missing,
                                      official_names=self.official_module_names())
        self.freeze_backbone()
        return report

    #: the arguments that mmdet's ``SwinTransformer`` does not take
    peft_kwargs: Tuple[str, ...] = ('method', 'trainable', 'frozen')

    @classmethod
    def upstream_config(cls, cfg: dict) -> dict:
        """mmdet's ``SwinTransformer`` with the Swin arguments of ``cfg``."""
        dropped = set(cls.peft_kwargs) | {getattr(cls, 'method_arg', '')}
        return dict(type='mmdet.SwinTransformer',
                    **{k: v for k, v in cfg.items() if k != 'type' and k not in dropped})

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """mmdet's Swin forward, its list of maps returned as a tuple as other OpenMMLab backbones
        return them (mmpretrain's ``GlobalAveragePooling`` neck accepts no list)."""
        return tuple(super().forward(x))

    def is_pretrained_param(self, name: str) -> bool:
        """Parameters that must come from the checkpoint: by default the frozen ones."""
        return not self.is_trainable_param(name) and not self.is_method_state(name)

    def official_module_names(self) -> Optional[Dict[str, str]]:
        """``{'my_module_k': name}``: the names of the modules of a method trained with the
        official Mona repository (None: Mona's)."""
        return None


class PEFTSwinBlock(PEFTBlockMixin, SwinBlock):
    """mmdet ``SwinBlock`` whose forward runs the PEFT modules at their sites
    (:class:`~mmpeft.models.backbones.peft_block.PEFTBlockMixin`).

    :meth:`convert` moves the two drop-paths out of mmdet's attention (``attn.drop``) and FFN
    (``ffn.dropout_layer``, with ``ffn.add_identity`` off) into the block (``drop_path_attn``,
    ``drop_path_ffn``), so the branches can be reached before and after them. They hold no
    parameters: names and checkpoints are unchanged, and without PEFT modules the block computes
    exactly mmdet's ``SwinBlock``.
    """

    @classmethod
    def convert(cls, block: SwinBlock) -> 'PEFTSwinBlock':
        """Turn a built mmdet ``SwinBlock`` into a ``PEFTSwinBlock`` without modules (in place)."""
        block = convert_module(block, SwinBlock, cls, peft_sites={})
        block.drop_path_attn, block.attn.drop = block.attn.drop, nn.Identity()
        block.detach_ffn_drop_path()
        return block

    def attn_branch(self, h: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        return self.attn(h, hw_shape)

    def ffn_branch(self, h: torch.Tensor) -> torch.Tensor:
        return self.ffn(h)

    @property
    def qkv(self) -> nn.Linear:
        return self.attn.w_msa.qkv

    def set_qkv(self, module: nn.Module) -> None:
        self.attn.w_msa.qkv = module

    @property
    def attn_proj(self) -> nn.Linear:
        return self.attn.w_msa.proj


class PEFTSwinBlockSequence(SwinBlockSequence):
    """mmdet ``SwinBlockSequence`` of :class:`PEFTSwinBlock` s, run by
    :func:`~mmpeft.models.backbones.peft_block.run_blocks`."""

    @classmethod
    def convert(cls, stage: SwinBlockSequence) -> 'PEFTSwinBlockSequence':
        """Turn a built mmdet ``SwinBlockSequence`` and its blocks into the PEFT versions."""
        stage = convert_module(stage, SwinBlockSequence, cls)
        for block in stage.blocks:
            PEFTSwinBlock.convert(block)
        return stage

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]):
        x = run_blocks(self.blocks, x, hw_shape)
        if self.downsample:
            x_down, down_hw_shape = self.downsample(x, hw_shape)
            return x_down, down_hw_shape, x, hw_shape
        return x, hw_shape, x, hw_shape


@register_model
class PEFTSwinTransformer(SwinBackboneMixin, SwinTransformer):
    """mmdet ``SwinTransformer`` with a PEFT method in every block; only the method trains.

    ``method=dict(type='Mona', inner_dims=64)`` names a registered
    :class:`~mmpeft.models.peft.PEFTModule` and its settings. Everything but the parameters of the
    method's modules (patch embedding, blocks, PatchMerging, output norms ``norm{i}``, which stay
    at weight 1 / bias 0) is frozen in the constructor; ``init_weights()``, checkpoint loading and
    ``train()`` re-assert it. Frozen modules stay in train mode (drop-path active), as in the
    reference implementations.

    A named subclass fixes the method (:attr:`method_type`) and takes its settings as one keyword
    (:attr:`method_arg`, e.g. ``MonaSwinTransformer(mona_cfg=dict(inner_dims=32))``).

    Args:
        method: the PEFT method and its settings; None converts the blocks and adds nothing
            (for backbones that add their parameters themselves).
        **kwargs: mmdet ``SwinTransformer`` arguments. ``init_cfg=dict(type='Pretrained',
            checkpoint=PATH)`` (or ``pretrained=PATH``) loads Microsoft, official-Mona, mmdet/mmseg
            or mmpeft Swin checkpoints, auto-detected (``convert_weights`` is not needed and
            ignored). ``frozen_stages`` > 0 is refused.
    """
    #: in a named subclass: the registered method it inserts ...
    method_type: Optional[str] = None
    #: ... and the keyword that carries that method's settings
    method_arg: str = ''

    def __init__(self, *, method: Optional[dict] = None, **kwargs) -> None:
        if self.method_type is not None:
            if method is not None:
                raise TypeError(f'{type(self).__name__} inserts {self.method_type}: give its '
                                f'settings as {self.method_arg}=dict(...), not method=')
            method = dict(type=self.method_type, **(kwargs.pop(self.method_arg, None) or {}))
        super().__init__(**self.self_freezing_kwargs(kwargs))
        for stage in self.stages:
            PEFTSwinBlockSequence.convert(stage)
        self.method = None if method is None else dict(method)
        if method is not None:
            shared = insert_method(self.peft_blocks(),
                                   method, stage_sizes=[len(stage.blocks) for stage in self.stages],
                                   embed=self.patch_embed)
            if shared is not None:
                self.peft_shared = shared
        self.index_method_params()
        self.freeze_backbone()

    def peft_blocks(self) -> Sequence[PEFTSwinBlock]:
        return [block for stage in self.stages for block in stage.blocks]

    def is_trainable_param(self, name: str) -> bool:
        """Only the parameters of the method's modules train."""
        return self.is_method_param(name)

    def official_module_names(self) -> Optional[Dict[str, str]]:
        """The method's block modules in insertion order, as the official Mona repository names
        them (``my_module_1``, ``my_module_2``)."""
        if self.method is None:
            return None
        cfg = {k: v for k, v in self.method.items() if k != 'type'}
        names = [name for name, site in peft_module_class(self.method).placements(cfg)
                 if site not in Site.WRAPPING]
        return {f'my_module_{k + 1}': name for k, name in enumerate(names)}
