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
``PROJ``/``FC1``/``FC2``   ``m`` replaces the attention's ``proj`` / the FFN's      FacT, SSF
                           Linears (wrapping sites, as ``QKV``)
``NORM1``, ``NORM2``       ``m`` replaces the block's norms (wrapping sites)        SSF
``PATCH_PROJ``,            ``m`` replaces the patch embedding's projection / norm  SSF
``PATCH_NORM``             (one module for the backbone, not one per block)
``ATTN_BYPASS``            ``x = x + DropPath(attn(h)) + DropPath(m(h))``,         Convpass
                           ``h = norm1(x)`` (its own drop-path draw)
``FFN_BYPASS``             ``x = x + DropPath(ffn(h)) + DropPath(m(h))``,          Convpass
                           ``h = norm2(x)`` (its own drop-path draw)
=========================  ======================================================  ===============

A module at a wrapping site (``Site.WRAPPING``: ``QKV`` and the sites below it) holds the replaced
layer's ``weight``/``bias`` under their pretrained names (:mod:`.wrapping`). A method may share
parameters across blocks (:attr:`PEFTModule.shares`: FacT's factors, KAdaptation's rules).

Sequential modules (``*_OUT*``, ``*_RESIDUAL``) return the new tensor, their own skip included;
a ``FFN_PARALLEL`` or ``*_BYPASS`` module returns only what is added; a ``QKV`` module is built
from the Linear it replaces and keeps its ``weight``/``bias``. Block-site modules are called as
``m(x, hw_shape)`` with the unpadded ``(H, W)`` token map of ``x``.

A method may add terms to the model's loss (CoLin's orthogonality loss): its modules return them
from :meth:`PEFTModule.aux_losses`, and :func:`~mmpeft.models.peft.aux_loss.attach_aux_losses`
(installed on every runner's model by ``import mmpeft``) adds them to the loss dict of whatever
model holds the backbone.

A method whose module can be folded into the frozen weights of its block (re-parameterisable,
such as LoRA) sets :attr:`PEFTModule.mergeable` and implements :meth:`PEFTModule.fold_into`;
:func:`~mmpeft.models.backbones.peft_block.fold_method` then folds and removes every module of a
backbone's blocks (for export, see ``tools/model_converters/export_peft.py``).

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

    # Wrapping sites (SSF, FacT, KAdaptation): like ``QKV``, the module replaces a frozen layer
    # and keeps its ``weight``/``bias``; its output is that layer's output, changed. The patch
    # embedding's sites are the backbone's (one module each, not one per block).
    PROJ = 'proj'              # the attention's output projection (Linear)
    FC1 = 'fc1'                # the FFN's first Linear (output before the activation)
    FC2 = 'fc2'                # the FFN's second Linear
    NORM1 = 'norm1'            # the block's first norm (attention input, before any windowing)
    NORM2 = 'norm2'            # the block's second norm (FFN input)
    PATCH_PROJ = 'patch_proj'  # the patch embedding's projection (conv; patch tokens only)
    PATCH_NORM = 'patch_norm'  # the patch embedding's norm, where it has one (Swin)
    EMBED = (PATCH_PROJ, PATCH_NORM)
    WRAPPING = (QKV, PROJ, FC1, FC2, NORM1, NORM2) + EMBED


class ConvSite:
    """Insertion points in a CNN block (a ResNet ``Bottleneck``:
    ``relu(norm3(conv3(relu(norm2(conv2(relu(norm1(conv1(x)))))))) + identity)``).

    ``CONV2_PARALLEL``: ``m`` beside ``conv2 -> norm2 -> ReLU``, fed their input and added to their
    output (Conv-Adapter); the module is built from ``conv2`` and called as ``m(h)``.
    """
    CONV2_PARALLEL = 'conv2_parallel'

    ALL = (CONV2_PARALLEL, )


#: ``(attribute name in the block, site)``; the name of a ``QKV`` (any wrapping-site) module is
#: the wrapped layer's own.
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
    #: whether :meth:`fold_into` can fold the module into its block's frozen weights
    mergeable: ClassVar[bool] = False
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

    def fold_into(self, block: nn.Module, site: str) -> None:
        """Fold this module into the frozen weights of ``block`` at ``site``; afterwards the
        caller removes the module (a ``QKV`` module: puts back a plain ``nn.Linear`` with this
        module's ``weight``/``bias``) and the block computes the same function without it.

        Raises:
            NotImplementedError: the method is not re-parameterisable (:attr:`mergeable` False).
        """
        raise NotImplementedError(
            f'{type(self).__name__} cannot be folded into the frozen weights (it is not a '
            're-parameterisable method); only methods with mergeable = True can')

    def is_peft_param(self, name: str) -> bool:
        """Whether parameter ``name`` (relative to this module) is one the method trains."""
        return True

    # ------------------------------------------------------------------ shared parameters
    #: parameters shared across blocks: None, ``'stage'`` (one set per stage, the blocks of one
    #: width: FacT) or ``'all'`` (one set for the whole backbone: KAdaptation's rules). The
    #: backbone owns them (``peft_shared``, a ModuleList built by :meth:`build_shared`) and
    #: :func:`~mmpeft.models.backbones.peft_block.insert_method` gives each block's module its
    #: set and its block index as ``shared=`` and ``index=`` settings.
    shares: ClassVar[Optional[str]] = None

    @classmethod
    def build_shared(cls, width: int, depth: int, cfg: dict) -> 'PEFTModule':
        """The shared parameters of ``depth`` blocks of ``width`` channels (for ``'all'``: the
        first stage's width and every block)."""
        raise NotImplementedError(f'{cls.__name__} shares no parameters')

    def use_shared(self, shared: 'PEFTModule') -> None:
        """Keep a reference to the backbone's shared parameters (not a submodule: they are
        saved once, under the backbone's ``peft_shared``)."""
        self.__dict__['_shared'] = shared

    @property
    def shared(self) -> 'PEFTModule':
        """The shared parameters given by :meth:`use_shared`."""
        shared = self.__dict__.get('_shared')
        if shared is None:
            raise RuntimeError(f'{type(self).__name__} has no shared parameters: build it with '
                               'insert_method (or call use_shared)')
        return shared

    def holds_pretrained(self, name: str) -> bool:
        """Whether parameter ``name`` is a pretrained weight the module holds (a wrapped layer's
        ``weight``/``bias``), loaded from the backbone's checkpoint. Parameters that are neither
        this nor trained (KAdaptation's frozen random rules) belong to the method's state."""
        return not self.is_peft_param(name)

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
