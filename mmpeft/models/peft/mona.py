"""Mona: Multi-cognitive visual adapter (Yin et al., CVPR 2025, arXiv 2408.08345).

Submodule and parameter names follow the official code, so official checkpoints map key-for-key
(``my_module_1.project1.weight`` -> ``mona1.project1.weight``).

Fused execution (``fused=True``, the default) computes exactly the same function with fewer and
cheaper kernels; parameters, their names, checkpoints and gradients are those of the original
module (the combined kernels are computed from the original parameters inside autograd):

* ``(dw3(z) + dw5(z) + dw7(z)) / 3 + z`` is one 7x7 depth-wise conv with the kernel
  ``(pad(k3) + pad(k5) + k7) / 3 + delta`` (``delta``: centre tap 1) and bias
  ``(b3 + b5 + b7) / 3``.
* ``projector(m) + m`` is one 1x1 conv (run as a ``Linear`` on the channels-last token map, so
  no layout copy is needed) with the identity added to its weight.
* ``gamma * LN(x) + gammax * x`` is ``F.layer_norm`` with weight ``gamma * w`` and bias
  ``gamma * b`` followed by one fused multiply-add.

In eval mode without autograd the combined kernels are cached; the cache is keyed on the
parameters' storage and in-place version counters (so optimizer steps, ``load_state_dict`` and
``.to()`` invalidate it) and dropped by ``train()``.

``with_cp=True`` recomputes the adapter internals in backward (non-reentrant
``torch.utils.checkpoint``, RNG state preserved so dropout masks are identical): only the
adapter's input is kept for backward.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.model.weight_init import constant_init, trunc_normal_init

from mmpeft.models.utils.validate import check_int
from mmpeft.registry import register_peft_module

from .base import PEFTModule, Site


class MonaConv(nn.Module):
    """Mona's multi-scale depthwise convolution block (``adapter_conv`` in the official code).

    ``m = (dw3(z) + dw5(z) + dw7(z)) / 3 + z``; ``out = projector(m) + m``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.conv2 = nn.Conv2d(channels, channels, 5, padding=2, groups=channels)
        self.conv3 = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.projector = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Unfused reference path on an NCHW map."""
        x = (self.conv1(x) + self.conv2(x) + self.conv3(x)) / 3.0 + x
        return self.projector(x) + x

    def fused_params(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Combined kernels, differentiable w.r.t. the original parameters.

        Returns:
            ``(dw_weight (C, 1, 7, 7), dw_bias (C,), proj_weight (C, C), proj_bias (C,))`` with
            ``dw(z) == (conv1(z) + conv2(z) + conv3(z)) / 3 + z`` and
            ``z @ proj_weight.T + proj_bias == projector(z) + z`` (channels last).
        """
        k = (F.pad(self.conv1.weight, (2, 2, 2, 2)) + F.pad(self.conv2.weight, (1, 1, 1, 1)) +
             self.conv3.weight) / 3.0
        centre = torch.zeros_like(k)
        centre[:, :, 3, 3] = 1.0
        k = k + centre
        b = (self.conv1.bias + self.conv2.bias + self.conv3.bias) / 3.0
        c = self.projector.out_channels
        pw = self.projector.weight.reshape(c, c)
        pw = pw + torch.eye(c, dtype=pw.dtype, device=pw.device)
        return k, b, pw, self.projector.bias


@register_peft_module
class Mona(PEFTModule):
    """Mona adapter on a token sequence.

    ``out = x + project2(dropout(gelu(adapter_conv(project1(gamma * LN(x) + gammax * x)))))``, the
    convolutions running over the (H, W) token map. In a transformer block, ``mona1`` follows the
    attention residual and ``mona2`` the FFN residual (outside the drop-path), as in the official
    Mona-Swin.

    Args:
        in_dims: token channels C. Parameters: ``133 * C + 9728`` for ``inner_dims=64``.
        inner_dims: bottleneck width (64 in the paper for every stage).
        dropout: dropout after the GELU.
        fused: run the fused kernels (same function and parameters, see the module docstring);
            False runs the literal official computation.
        with_cp: recompute the adapter internals in backward instead of storing them (saves the
            adapter's activations; same function, same gradients).
        init_cfg: unused by default; the official initialisation is done in the constructor
            (trunc-normal std 0.02 Linears with zero bias, LN 1/0, PyTorch-default convolutions,
            ``gamma`` = 1e-6, ``gammax`` = 1).
    """
    insertions = (('mona1', Site.ATTN_RESIDUAL), ('mona2', Site.FFN_RESIDUAL))

    def __init__(self,
                 in_dims: int,
                 inner_dims: int = 64,
                 dropout: float = 0.1,
                 fused: bool = True,
                 with_cp: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        in_dims = check_int('Mona', 'in_dims', in_dims, 1)
        inner_dims = check_int('Mona', 'inner_dims', inner_dims, 1)
        self.in_dims = in_dims
        self.inner_dims = inner_dims
        self.fused = fused
        self.with_cp = with_cp
        self.project1 = nn.Linear(in_dims, inner_dims)
        self.nonlinear = nn.GELU()
        self.project2 = nn.Linear(inner_dims, in_dims)
        self.dropout = nn.Dropout(p=dropout)
        self.adapter_conv = MonaConv(inner_dims)
        self.norm = nn.LayerNorm(in_dims, eps=1e-5)
        self.gamma = nn.Parameter(torch.full((in_dims, ), 1e-6))
        self.gammax = nn.Parameter(torch.ones(in_dims))
        trunc_normal_init(self.project1, std=0.02, bias=0.)
        trunc_normal_init(self.project2, std=0.02, bias=0.)
        constant_init(self.norm, 1.0, bias=0.)
        self._fused_cache: Optional[tuple] = None
        self._fused_cache_key: Optional[tuple] = None

    # ------------------------------------------------------------------------ fused kernels
    def _conv_params(self):
        ac = self.adapter_conv
        return (ac.conv1.weight, ac.conv1.bias, ac.conv2.weight, ac.conv2.bias, ac.conv3.weight,
                ac.conv3.bias, ac.projector.weight, ac.projector.bias)

    def _cache_key(self) -> tuple:
        return tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in self._conv_params())

    def clear_fused_cache(self) -> None:
        self._fused_cache = None
        self._fused_cache_key = None

    def fused_conv_params(self) -> tuple:
        """Combined conv kernels; cached when neither training nor recording autograd."""
        cacheable = not self.training and not (torch.is_grad_enabled() and any(
            p.requires_grad for p in self._conv_params()))
        if not cacheable:
            self.clear_fused_cache()
            return self.adapter_conv.fused_params()
        key = self._cache_key()
        if self._fused_cache is None or self._fused_cache_key != key:
            with torch.no_grad():
                self._fused_cache = self.adapter_conv.fused_params()
            self._fused_cache_key = key
        return self._fused_cache

    def train(self, mode: bool = True):
        self.clear_fused_cache()
        return super().train(mode)

    def _apply(self, fn, *args, **kwargs):
        self.clear_fused_cache()
        return super()._apply(fn, *args, **kwargs)

    # ------------------------------------------------------------------------------ forward
    def _delta_unfused(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, _ = x.shape
        x = self.norm(x) * self.gamma + x * self.gammax
        z = self.project1(x)
        z = z.reshape(b, h, w, self.inner_dims).permute(0, 3, 1, 2)
        z = self.adapter_conv(z)
        z = z.permute(0, 2, 3, 1).reshape(b, n, self.inner_dims)
        z = self.dropout(self.nonlinear(z))
        return self.project2(z)

    def _delta_fused(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        norm = self.norm
        # gamma * (xhat * w + b) + gammax * x == LN_{gamma*w, gamma*b}(x) + gammax * x
        y = F.layer_norm(x, (c, ), norm.weight * self.gamma, norm.bias * self.gamma, norm.eps)
        y = torch.addcmul(y, x, self.gammax)
        z = self.project1(y)  # (B, N, D), i.e. channels-last (B, H, W, D)
        dw_w, dw_b, pw, pb = self.fused_conv_params()
        # an NCHW view of the channels-last map: no copy; depth-wise conv keeps channels-last
        zc = z.view(b, h, w, self.inner_dims).permute(0, 3, 1, 2)
        zc = F.conv2d(zc, dw_w, dw_b, padding=3, groups=self.inner_dims)
        z = zc.permute(0, 2, 3, 1).reshape(b, n, self.inner_dims)
        z = F.linear(z, pw, pb)  # 1x1 projector + skip
        z = self.dropout(F.gelu(z))
        return self.project2(z)

    def _delta(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        if self.fused:
            return self._delta_fused(x, h, w)
        return self._delta_unfused(x, h, w)

    def _check_tokens(self, x: torch.Tensor, hw_shape: Sequence[int]) -> Tuple[int, int]:
        h, w = int(hw_shape[0]), int(hw_shape[1])
        if x.shape[1] != h * w:
            raise ValueError(f'Mona got {x.shape[1]} tokens but hw_shape {tuple(hw_shape)} '
                             f'(H * W = {h * w}); pass the unpadded token map size')
        return h, w

    def _recompute(self) -> bool:
        return self.with_cp and self.training and torch.is_grad_enabled()

    def defers_to_next_norm(self) -> bool:
        """With recomputation, Mona #2 is applied by the next block together with its norm1, so
        its output is not stored for backward."""
        return self._recompute()

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """``x``: (B, N, C) tokens; ``hw_shape``: the unpadded (H, W) with H * W == N."""
        h, w = self._check_tokens(x, hw_shape)
        if self._recompute():
            delta = cp.checkpoint(self._delta, x, h, w, use_reentrant=False)
        else:
            delta = self._delta(x, h, w)
        return x + delta

    def _with_norm(self, x: torch.Tensor, h: int, w: int,
                   norm: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
        y = x + self._delta(x, h, w)
        return y, norm(y)

    def forward_with_norm(self, x: torch.Tensor, hw_shape: Sequence[int],
                          norm: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(y, norm(y))`` with ``y = self(x, hw_shape)``, for an adapter followed by a norm.

        With ``with_cp`` the adapter and the norm are recomputed together in backward: only ``x``
        is stored, not the adapter internals and not ``y`` (which the norm would otherwise store).
        Same values and gradients as calling the two modules in turn.
        """
        h, w = self._check_tokens(x, hw_shape)
        if self._recompute():
            return cp.checkpoint(self._with_norm, x, h, w, norm, use_reentrant=False)
        return self._with_norm(x, h, w, norm)

    def extra_repr(self) -> str:
        return (f'in_dims={self.in_dims}, inner_dims={self.inner_dims}, fused={self.fused}, '
                f'with_cp={self.with_cp}')
