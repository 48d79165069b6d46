"""Visual Prompt Tuning (VPT, ECCV 2022) on mmdet's Swin Transformer, for dense prediction.

Algorithm (official ``PromptedSwinTransformer``, LOCATION='prepend', see the docstring of
:class:`VPTSwin`), with two corrections for detection/segmentation:

* prompts are expanded to the windows **batch-major** (same order as mmdet's
  ``window_partition``); the official code expands window-major, which pairs windows with the
  prompts of other images of the batch and mixes images when averaging (cross-sample leakage in
  shallow mode);
* arbitrary input sizes: prompts are split off before every padding (window padding, the adaptive
  padding of the patch merging) and re-attached afterwards, and the shifted-window mask is computed
  per forward as in mmdet.

The Swin blocks are :class:`~mmpeft.models.backbones.peft_swin.PEFTSwinBlock` s without PEFT
modules; their attention and the patch merging are mmdet's, converted in place
(:func:`~mmpeft.models.utils.convert_module`), so parameter names and checkpoints are exactly
mmdet's. This is the "prompts into attention" way in: the prompts are parameters of the backbone,
fed to the attention of every block.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.backbones.swin import ShiftWindowMSA, WindowMSA
from mmdet.models.layers import PatchMerging

from mmpeft.models.utils import check_int, convert_module
from mmpeft.registry import register_model

from .peft_swin import PEFTSwinTransformer


class PromptedWindowMSA(WindowMSA):
    """mmdet ``WindowMSA`` on windows of ``num_prompts + ws*ws`` tokens (prompts first).

    The relative-position bias and the shifted-window mask are zero-padded for every row and column
    that involves a prompt: prompts carry no position and are never masked.
    """
    num_prompts: int

    @classmethod
    def convert(cls, module: WindowMSA, num_prompts: int) -> 'PromptedWindowMSA':
        """Turn a built mmdet ``WindowMSA`` into a ``PromptedWindowMSA`` (in place)."""
        return convert_module(module, WindowMSA, cls, num_prompts=num_prompts)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: ``(num_windows*B, P + Wh*Ww, C)`` (batch-major windows); mask: ``(nW, Wh*Ww, Wh*Ww)``
        with values 0 / -100, or None."""
        P = self.num_prompts
        B, N, C = x.shape
        area = self.window_size[0] * self.window_size[1]
        assert N == P + area, f'expected {P} prompts + {area} window tokens, got {N}'
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads,
                                  C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)

        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(
            area, area, -1).permute(2, 0, 1)  # nH, ws*ws, ws*ws
        attn = attn + F.pad(bias, (P, 0, P, 0)).unsqueeze(0)  # prompt rows / cols: 0
        if mask is not None:
            nW = mask.shape[0]
            mask = F.pad(mask, (P, 0, P, 0))  # prompts are never masked
            attn = attn.view(B // nW, nW, self.num_heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, N, N)
        attn = self.attn_drop(self.softmax(attn))
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


class PromptedShiftWindowMSA(ShiftWindowMSA):
    """mmdet ``ShiftWindowMSA`` on ``(B, P + H*W, C)`` sequences whose first P tokens are prompts.

    The prompts of an image are copied into each of its windows (batch-major order, matching
    ``window_partition``), attend with the window's tokens, and their outputs are averaged over the
    image's windows. Image tokens are padded, shifted and partitioned exactly as in mmdet.
    """
    num_prompts: int

    @classmethod
    def convert(cls, module: ShiftWindowMSA, num_prompts: int) -> 'PromptedShiftWindowMSA':
        """Turn a built mmdet ``ShiftWindowMSA`` (and its ``w_msa``) into the prompted version."""
        module = convert_module(module, ShiftWindowMSA, cls, num_prompts=num_prompts)
        PromptedWindowMSA.convert(module.w_msa, num_prompts)
        return module

    def shift_mask(self, H_pad: int, W_pad: int, device: torch.device) -> torch.Tensor:
        """mmdet's SW-MSA mask ``(nW, ws*ws, ws*ws)`` (0 / -100) for a padded ``H_pad x W_pad``."""
        ws, s = self.window_size, self.shift_size
        img_mask = torch.zeros((1, H_pad, W_pad, 1), device=device)
        slices = (slice(0, -ws), slice(-ws, -s), slice(-s, None))
        cnt = 0
        for h in slices:
            for w in slices:
                img_mask[:, h, w, :] = cnt
                cnt += 1
        mask_windows = self.window_partition(img_mask).view(-1, ws * ws)
        attn_mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
        return attn_mask.masked_fill(attn_mask != 0, float(-100.0)).masked_fill(
            attn_mask == 0, float(0.0))

    def forward(self, query: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        P = self.num_prompts
        B, L, C = query.shape
        H, W = hw_shape
        assert L == P + H * W, f'expected {P} prompts + {H}x{W} tokens, got {L}'
        prompts, query = query[:, :P], query[:, P:].reshape(B, H, W, C)

        ws = self.window_size
        pad_r = (ws - W % ws) % ws
        pad_b = (ws - H % ws) % ws
        query = F.pad(query, (0, 0, 0, pad_r, 0, pad_b))
        H_pad, W_pad = query.shape[1], query.shape[2]
        if self.shift_size > 0:
            query = torch.roll(query, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
            attn_mask = self.shift_mask(H_pad, W_pad, query.device)
        else:
            attn_mask = None

        windows = self.window_partition(query).view(-1, ws * ws, C)  # B*nW (batch-major)
        nW = windows.shape[0] // B
        win_prompts = prompts.unsqueeze(1).expand(B, nW, P, C).reshape(B * nW, P, C)
        out = self.w_msa(torch.cat([win_prompts, windows], dim=1), mask=attn_mask)

        prompt_out = out[:, :P].reshape(B, nW, P, C).mean(dim=1)  # average over the windows
        x = self.window_reverse(out[:, P:].reshape(-1, ws, ws, C), H_pad, W_pad)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        x = x[:, :H, :W, :].reshape(B, H * W, C)
        return self.drop(torch.cat([prompt_out, x], dim=1))


class PromptedPatchMerging(PatchMerging):
    """mmcv/mmdet ``PatchMerging`` (``nn.Unfold``) that carries P prompt tokens along.

    Image tokens are merged as usual (after the adaptive padding). Each prompt is "upsampled" to
    4C by repeating every channel 4 times (``repeat_interleave(4)``): the Unfold channel order is
    ``c * 4 + k``, so this is the official concatenation of 4 copies in the Microsoft order after
    mmdet's channel re-ordering of ``norm``/``reduction``. Prompts then go through the same frozen
    ``norm`` and ``reduction``.
    """
    num_prompts: int

    @classmethod
    def convert(cls, module: PatchMerging, num_prompts: int) -> 'PromptedPatchMerging':
        """Turn a built mmdet ``PatchMerging`` into a ``PromptedPatchMerging`` (in place)."""
        return convert_module(module, PatchMerging, cls, num_prompts=num_prompts)

    def forward(self, x: torch.Tensor,
                input_size: Sequence[int]) -> Tuple[torch.Tensor, Tuple[int, int]]:
        P = self.num_prompts
        prompts, x = x[:, :P], x[:, P:]
        x, out_size = super().forward(x, input_size)  # adaptive padding: image tokens only
        if P:
            k = self.sampler.kernel_size
            prompts = prompts.repeat_interleave(k[0] * k[1], dim=-1)
            prompts = self.reduction(self.norm(prompts) if self.norm else prompts)
            x = torch.cat([prompts, x], dim=1)
        return x, out_size


@register_model
class VPTSwin(PEFTSwinTransformer):
    """VPT (prepend) on mmdet's ``SwinTransformer``; only the prompt tokens train.

    P learnable prompt tokens are prepended to the token sequence of every image. In each block the
    image's prompts are copied into each of its (shifted) windows, attend together with the window
    tokens (relative-position bias and shift mask zero for prompt rows/columns) and are averaged
    back over the windows; they then pass the residual connections and the FFN like image tokens.

    * ``deep=True`` (default): a fresh prompt set per block, which *replaces* the prompts before
      every block. Parameters (official names): ``prompt_embeddings`` ``(1, P, C)`` for block 0 of
      stage 0, ``deep_prompt_embeddings_0`` ``(depths[0]-1, P, C)`` for the other stage-0 blocks
      and ``deep_prompt_embeddings_{i}`` ``(depths[i], P, C * 2**i)`` for every block of stage i>0.
      The prompt outputs of a block are never used (the next block replaces them), so they are
      dropped right after each block and not carried through the patch merging (the official code
      merges them and throws them away; the image outputs are the same).
    * ``deep=False`` (shallow): one set ``prompt_embeddings`` ``(1, P, C)`` inserted after the patch
      embedding (and absolute position embedding and its dropout); it travels through every block
      and through the patch merging (:class:`PromptedPatchMerging`), growing to 2C, 4C, 8C.

    Prompts are initialised U(-v, v) with ``v = sqrt(6 / (in_channels * patch**2 + embed_dims))``
    (stage-0 width for every stage; Swin-B: 0.1846). Prompt dropout (default 0.1 deep, 0 shallow)
    is applied to each stage's prompts before the stage, with one mask per image (as the official
    code, which expands the prompts to the batch first). The prompts are removed before every
    output; outputs are mmdet's (``norm{i}`` of the stage output, strides 4/8/16/32,
    ``out_indices``). The output norms are frozen at identity, as in :class:`MonaSwinTransformer`.

    Everything but the prompts is frozen in the constructor (and again after ``init_weights``,
    checkpoint loading and ``train()``). **Train mode:** as in the official VPT code,
    ``train(True)`` puts every frozen submodule in eval mode, so the Swin's dropout and drop-path
    are inactive while training (``drop_path_rate`` only matters with ``frozen_eval=False``); only
    the prompt dropout follows the requested mode.

    With ``num_prompts=0`` the model computes exactly mmdet's ``SwinTransformer``.

    Args:
        num_prompts: P, prompt tokens per image (same P in every stage).
        deep: deep (one prompt set per block) or shallow (one set at the input) VPT.
        prompt_dropout: dropout on the prompts; None -> 0.1 if ``deep`` else 0.0.
        frozen_eval: keep the frozen Swin in eval mode in ``train()`` (official behaviour).
        **kwargs: mmdet ``SwinTransformer`` arguments; ``init_cfg=dict(type='Pretrained',
            checkpoint=PATH)`` (or ``pretrained=PATH``) loads the same checkpoint layouts as
            :class:`MonaSwinTransformer` through the same code. ``frozen_stages`` > 0 is refused.
    """

    def __init__(self,
                 *,
                 num_prompts: int = 50,
                 deep: bool = True,
                 prompt_dropout: Optional[float] = None,
                 frozen_eval: bool = True,
                 **kwargs) -> None:
        P = check_int('VPTSwin', 'num_prompts', num_prompts, 0)
        super().__init__(method=None, **kwargs)
        self.num_prompts = P
        self.deep = bool(deep)
        self.frozen_eval = bool(frozen_eval)
        if prompt_dropout is None:
            prompt_dropout = 0.1 if self.deep else 0.0
        self.prompt_dropout = nn.Dropout(prompt_dropout)

        for stage in self.stages:
            for block in stage.blocks:
                PromptedShiftWindowMSA.convert(block.attn, P)
            if stage.downsample is not None and not self.deep:
                PromptedPatchMerging.convert(stage.downsample, P)

        embed_dims = self.num_features[0]
        patch = self.patch_embed.projection.kernel_size
        in_channels = self.patch_embed.projection.in_channels
        self.prompt_init_bound = math.sqrt(6. / (in_channels * patch[0] * patch[1] + embed_dims))
        self._prompt_names: List[str] = []
        if P > 0:
            self.prompt_embeddings = nn.Parameter(torch.zeros(1, P, embed_dims))
            self._prompt_names.append('prompt_embeddings')
            if self.deep:
                for i, stage in enumerate(self.stages):
                    n = len(stage.blocks) - (1 if i == 0 else 0)
                    if n > 0:
                        name = f'deep_prompt_embeddings_{i}'
                        self.register_parameter(
                            name, nn.Parameter(torch.zeros(n, P, self.num_features[i])))
                        self._prompt_names.append(name)
            self.init_prompts()
        self.freeze_backbone()

    # ------------------------------------------------------------------ parameters
    def init_prompts(self) -> None:
        """U(-v, v), v = sqrt(6 / (in_channels * patch_h * patch_w + embed_dims))."""
        with torch.no_grad():
            for name in self._prompt_names:
                getattr(self, name).uniform_(-self.prompt_init_bound, self.prompt_init_bound)

    def peft_blocks(self) -> Sequence:
        raise NotImplementedError('VPTSwin: the prompts change what the attention computes and '
                                  'cannot be folded into the frozen weights')

    def is_trainable_param(self, name: str) -> bool:
        """Only the prompt embeddings train."""
        return name in getattr(self, '_prompt_names', ())  # none yet while the base class builds

    def stage_prompts(self, i: int) -> Optional[torch.Tensor]:
        """Deep mode: the ``(depths[i], P, C_i)`` prompts of stage ``i`` (None if P = 0)."""
        if self.num_prompts == 0:
            return None
        parts = [self.prompt_embeddings] if i == 0 else []
        if hasattr(self, f'deep_prompt_embeddings_{i}'):
            parts.append(getattr(self, f'deep_prompt_embeddings_{i}'))
        return torch.cat(parts, dim=0) if len(parts) > 1 else parts[0]

    def describe(self) -> str:
        """Name, mode and prompt count, for log messages."""
        return f'VPTSwin ({"deep" if self.deep else "shallow"}, {self.num_prompts} prompts)'

    def train(self, mode: bool = True) -> 'VPTSwin':
        """Set the mode; with ``frozen_eval`` every frozen submodule stays in eval mode (the
        official VPT ``train()``), only the prompt dropout follows ``mode``."""
        super().train(mode)
        if mode and self.frozen_eval:
            for child in self.children():
                child.train(False)
            self.prompt_dropout.train(True)
        return self

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        P = self.num_prompts
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + self.absolute_pos_embed
        x = self.drop_after_pos(x)
        B = x.shape[0]
        if P and not self.deep:  # one dropout mask per image
            x = torch.cat([self.prompt_dropout(self.prompt_embeddings.expand(B, -1, -1)), x], 1)

        outs = []
        for i, stage in enumerate(self.stages):
            if P and self.deep:
                prompts = self.stage_prompts(i)  # (depth, P, C)
                # (depth, B, P, C): one dropout mask per image
                prompts = self.prompt_dropout(prompts.unsqueeze(1).expand(-1, B, -1, -1))
                for j, block in enumerate(stage.blocks):
                    x = block(torch.cat([prompts[j], x], dim=1), hw_shape)
                    x = x[:, P:]  # the next block replaces them
            else:
                for block in stage.blocks:
                    x = block(x, hw_shape)
            out, out_hw_shape = x, hw_shape
            if stage.downsample is not None:
                x, hw_shape = stage.downsample(x, hw_shape)
            if i in self.out_indices:
                out = out[:, P:] if not self.deep else out  # strip the prompts
                out = getattr(self, f'norm{i}')(out)
                outs.append(
                    out.view(-1, *out_hw_shape, self.num_features[i]).permute(0, 3, 1,
                                                                             2).contiguous())
        return outs
