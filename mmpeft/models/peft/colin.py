"""CoLin: complex linear projection adapter with an orthogonality loss ("1% > 100%", Yin et al.,
2026; official code DongshuoYin/CoLin, mmdet 2.x).

``CoLin(x) = x + P2(GELU(mix(P1(x))))`` after the attention residual and after the FFN residual of
every block (``colin1``, ``colin2``, outside the drop-path, as Mona). ``P1``: C -> 100 and ``P2``:
100 -> C are complex linear projections (:class:`CLP`), ``mix(z) = s * dwconv3x3(z) + (1 - s) * z``
on the token map with ``s = sigmoid(inner_scale)`` per channel.

Submodule and parameter names are the official ones (``project1.param_dict.A`` ...), so the
official detector files load key for key; their ``project2.upProjection.*`` tensors (a second
copy of ``project1``'s, which the official ``P2`` holds as a submodule to read its gains) are not
kept here: ``P2`` is given ``P1``'s gains at call time.

The orthogonality loss is a term of the model's loss dict (``loss_orth``, see
:mod:`mmpeft.models.peft.aux_loss`), not a ``backward()`` inside ``forward`` as released (see
``configs/colin/README.md``).
"""
import math
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmpeft.models.utils.validate import check_int
from mmpeft.registry import register_peft_module

from .base import PEFTModule, Site


@contextmanager
def single_thread() -> Iterator[None]:
    """Run small LAPACK calls on one thread: on a loaded CPU, the thread pool's waits make a
    100-column SVD 10-50x slower than on one thread (CoLin's init does 384 of them for Swin-B)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class CLP(nn.Module):
    """Complex linear projection ``y = x A diag(g_1 + ... + g_n) B + bias`` (``A``: in x r,
    ``B``: r x out, gains ``g_i``: r x 1, in ``param_dict`` as the official code names them).

    Initialised as the official code: ``A`` and ``B`` are the means over ``num_branch`` draws of
    the top-``rank`` left / right singular vectors of kaiming-uniform (in x out) matrices, ``g_i``
    the singular values of draw ``i``, the bias uniform in ``+-1/sqrt(in)``.

    Args:
        own_gains: whether the gains are parameters of this projection; ``False`` for CoLin's
            ``project2``, which is given ``project1``'s (and whose draws' singular values become
            ``project1``'s gains, see :meth:`init_from_svd`).
    """

    def __init__(self, in_features: int, out_features: int, rank: int = 28, num_branch: int = 4,
                 own_gains: bool = True) -> None:
        super().__init__()
        if rank > min(in_features, out_features):
            raise ValueError(f'CLP: rank {rank} exceeds min(in, out) = '
                             f'{min(in_features, out_features)}')
        self.in_features, self.out_features = in_features, out_features
        self.rank, self.num_branch = rank, num_branch
        params = {'A': nn.Parameter(torch.empty(in_features, rank)),
                  'B': nn.Parameter(torch.empty(rank, out_features))}
        if own_gains:
            params.update({f'g{i}': nn.Parameter(torch.empty(rank, 1)) for i in range(num_branch)})
        self.param_dict = nn.ParameterDict(params)
        self.bias = nn.Parameter(torch.empty(out_features))

    @torch.no_grad()
    def init_from_svd(self, gains: Sequence[nn.Parameter]) -> None:
        """The official initialisation; the singular values go into ``gains`` (this projection's
        own, or the ones it is given)."""
        draws = torch.empty(len(gains), self.out_features, self.in_features)
        for w in draws:
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        with single_thread():
            u, s, vh = torch.linalg.svd(draws.transpose(1, 2), full_matrices=False)
        for g, values in zip(gains, s):
            g.copy_(values[:self.rank, None])
        self.param_dict['A'].copy_(u[..., :self.rank].mean(0))
        self.param_dict['B'].copy_(vh[:, :self.rank].mean(0))
        bound = 1 / math.sqrt(self.in_features)
        nn.init.uniform_(self.bias, -bound, bound)

    def gains(self) -> Sequence[nn.Parameter]:
        """This projection's own gains ``g0 ... g{n-1}``."""
        return [self.param_dict[f'g{i}'] for i in range(self.num_branch)]

    def weight(self, gains: Sequence[torch.Tensor]) -> torch.Tensor:
        """The (out, in) weight ``(A diag(sum g) B)^T`` of ``F.linear``."""
        g = torch.stack([gi.reshape(-1) for gi in gains]).sum(0)
        return ((self.param_dict['A'] * g) @ self.param_dict['B']).t()

    def forward(self, x: torch.Tensor, gains: Optional[Sequence[torch.Tensor]] = None):
        return F.linear(x, self.weight(self.gains() if gains is None else gains), self.bias)

    def orthogonal_loss(self) -> torch.Tensor:
        """``num_branch * (|A^T A - I|_F^2 + |B B^T - I|_F^2)`` in float32 (the official sum
        over its branches, which share ``A`` and ``B``)."""
        with torch.autocast(self.bias.device.type, enabled=False):
            a, b = self.param_dict['A'].float(), self.param_dict['B'].float()
            eye = torch.eye(self.rank, device=a.device)
            return self.num_branch * ((a.t() @ a - eye).square().sum()
                                      + (b @ b.t() - eye).square().sum())


@register_peft_module
class CoLin(PEFTModule):
    """CoLin adapter on a token sequence (see the module docstring), after the attention residual
    (``colin1``) and the FFN residual (``colin2``) of every block.

    Parameters: ``57 * C + 6912`` per module with the defaults (Swin-B 1,703,424).

    Args:
        in_dims: token channels C.
        inner_dims: width of the projections' code (100).
        rank: rank r of each projection's ``A``/``B`` (28).
        num_branch: gains per projection (4).
        kernel_size: the depth-wise mixing convolution (3).
        orth_loss_weight: weight of ``loss_orth`` (0.5, the official ``LOSS_WEIGHT``).
    """
    insertions = (('colin1', Site.ATTN_RESIDUAL), ('colin2', Site.FFN_RESIDUAL))
    has_aux_losses = True

    def __init__(self, in_dims: int, inner_dims: int = 100, rank: int = 28, num_branch: int = 4,
                 kernel_size: int = 3, orth_loss_weight: float = 0.5,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        in_dims = check_int('CoLin', 'in_dims', in_dims, 1)
        inner_dims = check_int('CoLin', 'inner_dims', inner_dims, 1)
        num_branch = check_int('CoLin', 'num_branch', num_branch, 1)
        kernel_size = check_int('CoLin', 'kernel_size', kernel_size, 1)
        if kernel_size % 2 == 0:
            raise ValueError(f'CoLin: kernel_size must be odd, got {kernel_size}')
        self.in_dims, self.inner_dims = in_dims, inner_dims
        self.orth_loss_weight = float(orth_loss_weight)
        self.project1 = CLP(in_dims, inner_dims, rank, num_branch)
        self.project2 = CLP(inner_dims, in_dims, rank, num_branch, own_gains=False)
        self.inner_op = nn.Conv2d(inner_dims, inner_dims, kernel_size, padding=kernel_size // 2,
                                  groups=inner_dims)
        self.inner_scale = nn.Parameter(torch.zeros(1, inner_dims, 1, 1))
        gains = self.project1.gains()
        self.project1.init_from_svd(gains)
        self.project2.init_from_svd(gains)  # as released: project2's draws set the shared gains

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """``x``: (B, N, C) tokens; ``hw_shape``: the unpadded (H, W) with H * W == N."""
        self.check_aux_losses_collected()
        b, n, _ = x.shape
        h, w = int(hw_shape[0]), int(hw_shape[1])
        if n != h * w:
            raise ValueError(f'CoLin got {n} tokens but hw_shape {tuple(hw_shape)}')
        gains = self.project1.gains()
        z = self.project1(x, gains)
        zm = z.view(b, h, w, self.inner_dims).permute(0, 3, 1, 2)
        s = torch.sigmoid(self.inner_scale)
        zm = s * self.inner_op(zm) + (1.0 - s) * zm
        z = zm.permute(0, 2, 3, 1).reshape(b, n, self.inner_dims)
        return x + self.project2(F.gelu(z), gains)

    def orthogonal_loss(self) -> torch.Tensor:
        """The unweighted orthogonality loss of both projections (float32)."""
        return self.project1.orthogonal_loss() + self.project2.orthogonal_loss()

    def aux_losses(self) -> Dict[str, torch.Tensor]:
        return {'loss_orth': self.orth_loss_weight * self.orthogonal_loss()}

    def extra_repr(self) -> str:
        return (f'in_dims={self.in_dims}, inner_dims={self.inner_dims}, '
                f'orth_loss_weight={self.orth_loss_weight}')
