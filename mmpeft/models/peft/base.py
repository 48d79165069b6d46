"""What a PEFT method is: one module class and the places in a transformer block where it goes.

A pre-norm transformer block (Swin, ViT) computes::

    x = x + DropPath(attn(norm1(x)))
    x = x + DropPath(ffn(norm2(x)))

and a method's module sits at one or more of these :class:`Site` s:

=========================  ======================================================  ===============
site                       what the module does                                    example
=========================  ======================================================  ===============
``ATTN_OUT``               ``a = m(a)`` on the attention branch, before DropPath   Adapter (Mona
                                                                                   repo)
``ATTN_OUT_DROPPED``       the same after DropPath                                 Adapter (STAR)
``ATTN_RESIDUAL``          ``x = m(x)`` on the stream after the attention residual Mona #1
``FFN_OUT``                ``f = m(f)`` on the FFN branch, before DropPath         Adapter (Mona
                                                                                   repo)
``FFN_OUT_DROPPED``        the same after DropPath                                 Adapter (STAR)
``FFN_PARALLEL``           ``x = x + DropPath(ffn(norm2(x))) + m(x)``              AdaptFormer
``FFN_RESIDUAL``           ``x = m(x)`` on the stream after the FFN residual       Mona #2
``QKV``                    ``m`` replaces the attention's ``qkv`` ``nn.Linear``    LoRA
``ATTN_BYPASS``            ``x = x + DropPath(attn(h)) + DropPath(m(h))``,         Convpass
                           ``h = norm1(x)`` (its own drop-path draw)
``FFN_BYPASS``             ``x = x + DropPath(ffn(h)) + DropPath(m(h))``,          Convpass
                           ``h = norm2(x)`` (its own drop-path draw)
=========================  ======================================================  ===============

Sequential modules (``*_OUT*``, ``*_RESIDUAL``) return the new tensor, their own skip included;
a ``FFN_PARALLEL`` or ``*_BYPASS`` module returns only what is added; a ``QKV`` module is built
from the Linear it replaces and keeps its ``weight``/``bias``. Block-site modules are called as
``m(x, hw_shape)`` with the unpadded ``(H, W)`` token map of ``x``.

A method may add terms to the model's loss (CoLin's orthogonality loss): its modules return them
from :meth:`PEFTModule.aux_losses`, and :func:`~mmpeft.models.peft.aux_loss.attach_aux_losses`
(installed on every runner's model by ``import mmpeft``) adds them to the loss dict of whatever
model holds the backbone.

The code that puts the modules into a backbone's blocks is written once per backbone family
(:mod:`mmpeft.models.backbones.peft_swin` for mmdet's Swin). Prompt methods (VPT) change the
attention itself and have their own backbone (:class:`~mmpeft.models.backbones.VPTSwin`).
"""
from typing import ClassVar, Dict, Optional, Sequence, Tuple, Type

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmpeft.registry import PEFT_MODULES


class Site:
    """Insertion points in a transformer block (see the module docstring)."""
    ATTN_OUT = 'attn_out'
    ATTN_OUT_DROPPED = 'attn_out_dropped'
    ATTN_RESIDUAL = 'attn_residual'
    FFN_OUT = 'ffn_out'
    FFN_OUT_DROPPED = 'ffn_out_dropped'
    FFN_PARALLEL = 'ffn_parallel'
    FFN_RESIDUAL = 'ffn_residual'
    QKV = 'qkv'
    # branches beside the attention / the FFN, fed the normed stream, with their own drop-path
    ATTN_BYPASS = 'attn_bypass'
    FFN_BYPASS = 'ffn_bypass'

    ALL = (ATTN_OUT, ATTN_OUT_DROPPED, ATTN_RESIDUAL, FFN_OUT, FFN_OUT_DROPPED, FFN_PARALLEL,
           FFN_RESIDUAL, QKV, ATTN_BYPASS, FFN_BYPASS)


class ConvSite:
    """Insertion points in a CNN block (a ResNet ``Bottleneck``:
    ``relu(norm3(conv3(relu(norm2(conv2(relu(norm1(conv1(x)))))))) + identity)``).

    ``CONV2_PARALLEL``: ``m`` beside ``conv2 -> norm2 -> ReLU``, fed their input and added to their
    output (Conv-Adapter); the module is built from ``conv2`` and called as ``m(h)``.
    """
    CONV2_PARALLEL = 'conv2_parallel'

    ALL = (CONV2_PARALLEL, )


#: ``(attribute name in the block, site)``; the name of a ``QKV`` module is the Linear's own.
Insertion = Tuple[Optional[str], str]


class PEFTModule(BaseModule):
    """Base class of the modules a PEFT method inserts into transformer blocks.

    A method is a subclass registered with :func:`mmpeft.registry.register_peft_module` that
    declares :attr:`insertions`; nothing else is needed for every backbone family to place it.
    Every parameter of the module trains unless :meth:`is_peft_param` says otherwise (a module that
    wraps frozen pretrained weights, such as a LoRA Linear).
    """
    #: where one instance per insertion goes in every block
    insertions: ClassVar[Sequence[Insertion]] = ()
    #: a token-map module that also takes a ViT's extra tokens (class, registers), each as a 1x1
    #: map before the ``H * W`` patch tokens (Convpass); otherwise they pass it by
    takes_extra_tokens: ClassVar[bool] = False
    #: whether :meth:`aux_losses` returns anything (the model must then add them to its loss)
    has_aux_losses: ClassVar[bool] = False

    @classmethod
    def placements(cls, cfg: dict) -> Sequence[Insertion]:
        """The insertions for the settings ``cfg`` (a method may move with its settings)."""
        return cls.insertions

    @classmethod
    def build_at(cls, site: str, target, cfg: dict) -> 'PEFTModule':
        """One module for ``site``: ``target`` is the block width (or, for ``QKV``, the Linear)."""
        if site == Site.QKV:
            raise NotImplementedError(f'{cls.__name__} cannot replace a Linear')
        return cls(target, **cfg)

    def is_peft_param(self, name: str) -> bool:
        """Whether parameter ``name`` (relative to this module) is one the method trains."""
        return True

    def forward_with_norm(self, x: torch.Tensor, hw_shape: Sequence[int],
                          norm: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(y, norm(y))`` with ``y = self(x, hw_shape)``, for a module followed by a norm."""
        y = self(x, hw_shape)
        return y, norm(y)

    def aux_losses(self) -> Dict[str, torch.Tensor]:
        """Weighted terms this module adds to the model's loss dict in training (``{'loss_x':
        scalar}``); summed by name over the modules. None by default."""
        return {}

    def check_aux_losses_collected(self) -> None:
        """Refuse a training forward whose :meth:`aux_losses` nobody adds to the loss (call it
        at the start of ``forward`` in a method with :attr:`has_aux_losses`)."""
        if (self.training and torch.is_grad_enabled()
                and not getattr(self, 'aux_losses_collected', False)):
            raise RuntimeError(
                f'{type(self).__name__} adds {sorted(self.aux_losses())} to the training loss, but '
                'nothing collects it: train through an mmengine Runner after `import mmpeft` '
                '(its AuxLossHook does it), or call mmpeft.models.peft.attach_aux_losses(model) '
                'on the model whose forward(mode="loss") returns the loss dict (a custom loop '
                'adds collect_aux_losses(model) to its loss itself and then calls '
                'attach_aux_losses(model) to say so).')

    def defers_to_next_norm(self) -> bool:
        """Whether, as the ``FFN_RESIDUAL`` module of a block, this module is better applied by
        the next block together with its ``norm1`` (see :meth:`forward_with_norm`)."""
        return False


def peft_module_class(cfg: dict) -> Type[PEFTModule]:
    """The registered :class:`PEFTModule` class named by ``cfg['type']``."""
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f"method must be a dict with a 'type', got {cfg!r}")
    cls = PEFT_MODULES.get(cfg['type']) if isinstance(cfg['type'], str) else cfg['type']
    if cls is None or not (isinstance(cls, type) and issubclass(cls, PEFTModule)):
        raise KeyError(f"unknown PEFT method {cfg['type']!r}; registered: "
                       f'{sorted(PEFT_MODULES.module_dict)}')
    return cls
