"""Cascaded multiscale CNN + stacked bidirectional GRU (after Li & Yu 2016, "CNNH_PSS" / DCRNN family).

Parallel convolutions of kernels 3, 7, 11 (concatenated) -> LayerNorm/GELU -> stacked BiGRU ->
per-residue classifier on [conv features, GRU states]. The backward GRU runs on each chain reversed
within its own length, so padding is never read and no packing is needed (cuDNN-friendly).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import ChannelNorm, SSModel, masked
from .registry import register_model


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse B x L x C along L inside each chain's length; padding positions stay where they are."""
    b, n = x.shape[:2]
    pos = torch.arange(n, device=x.device).expand(b, n)
    idx = torch.where(pos < lengths[:, None], lengths[:, None] - 1 - pos, pos)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


class BiGRULayer(nn.Module):
    def __init__(self, in_size: int, hidden: int):
        super().__init__()
        self.fwd = nn.GRU(in_size, hidden, batch_first=True)
        self.bwd = nn.GRU(in_size, hidden, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        f, _ = self.fwd(x)
        b, _ = self.bwd(reverse_within_length(x, lengths))
        return torch.cat([f, reverse_within_length(b, lengths)], dim=-1)


@register_model("cnn_bigru")
class CNNBiGRU(SSModel):
    def __init__(self, in_features: int, conv_channels: int = 64, kernels: tuple[int, ...] = (3, 7, 11),
                 hidden: int = 128, layers: int = 2, head: int = 128, dropout: float = 0.3,
                 input_dropout: float = 0.0, tasks=("ss8",)):
        super().__init__(tasks)
        self.in_drop = nn.Dropout(input_dropout)
        self.convs = nn.ModuleList(nn.Conv1d(in_features, conv_channels, k, padding=k // 2) for k in kernels)
        c = conv_channels * len(kernels)
        self.conv_norm = ChannelNorm(c)
        self.drop = nn.Dropout(dropout)
        self.grus = nn.ModuleList(BiGRULayer(c if i == 0 else 2 * hidden, hidden) for i in range(layers))
        self.head = nn.Sequential(nn.Linear(c + 2 * hidden, head), nn.GELU(), nn.Dropout(dropout),
                                  nn.Linear(head, self.n_outputs))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1)
        h = masked(self.in_drop(x).transpose(1, 2), mask)
        c = torch.cat([conv(h) for conv in self.convs], dim=1)
        c = masked(torch.nn.functional.gelu(self.conv_norm(c)), mask).transpose(1, 2)
        r = self.drop(c)
        for gru in self.grus:
            r = self.drop(gru(r, lengths))
        return self.head(torch.cat([c, r], dim=-1))
