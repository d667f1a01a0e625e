"""Dilated (atrous) residual CNN.

Stem convolution (kernel k0), then residual blocks: LayerNorm over channels -> GELU -> dilated conv
(kernel k, dilation d) -> GELU -> dropout -> 1x1 conv, added back. Dilations cycle through the
given list (default 1, 2, 4, 8, 16, twice). Receptive field = k0 + sum over blocks of (k - 1) * d;
with the defaults (k0 = 7, k = 3) that is 7 + 2 * 2 * 31 = 131 residues.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError
from .base import ChannelNorm, SSModel, masked
from .registry import register_model


class DilatedBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.norm = ChannelNorm(channels)
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel // 2))
        self.mix = nn.Conv1d(channels, channels, 1)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        z = self.conv(masked(self.act(self.norm(h)), mask))
        return h + self.mix(self.drop(self.act(z)))


@register_model("dilated_cnn")
class DilatedCNN(SSModel):
    def __init__(self, in_features: int, channels: int = 128, kernel: int = 3, stem_kernel: int = 7,
                 dilations: tuple[int, ...] = (1, 2, 4, 8, 16), repeats: int = 2, dropout: float = 0.2,
                 input_dropout: float = 0.0, tasks=("ss8",)):
        super().__init__(tasks)
        for key, k in (("kernel", kernel), ("stem_kernel", stem_kernel)):
            if k % 2 == 0:
                raise UserError(f"model 'dilated_cnn': model.kwargs.{key}={k} must be odd")
        self.kernel, self.stem_kernel = kernel, stem_kernel
        self.dilations = [int(d) for d in dilations] * repeats
        self.in_drop = nn.Dropout(input_dropout)
        self.stem = nn.Conv1d(in_features, channels, stem_kernel, padding=stem_kernel // 2)
        self.blocks = nn.ModuleList(DilatedBlock(channels, kernel, d, dropout) for d in self.dilations)
        self.norm = ChannelNorm(channels)
        self.head = nn.Conv1d(channels, self.n_outputs, 1)

    def receptive_field(self) -> int:
        return self.stem_kernel + sum((self.kernel - 1) * d for d in self.dilations)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.stem(masked(self.in_drop(x).transpose(1, 2), mask))
        for block in self.blocks:
            h = block(masked(h, mask), mask)
        return self.head(torch.nn.functional.gelu(self.norm(h))).transpose(1, 2)
