"""Pieces shared by the architectures: the (features, mask) -> logits contract and masked layers."""
from __future__ import annotations

import torch
from torch import nn


class SSModel(nn.Module):
    """features B x L x F (zeros on padding) and mask B x L -> 8-state logits B x L x 8.

    Subclasses must not let padding change any residue's output: convolutions see zeros beyond a
    chain's end whether it is alone or batched with longer chains, recurrences never read padding.
    """

    model_name = "base"
    n_states = 8

    def receptive_field(self) -> int | None:
        """Total window width (residues) that can influence one output; None = whole chain."""
        return None

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class ChannelNorm(nn.Module):
    """LayerNorm over channels of a B x C x L tensor: per position, so padding never leaks."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


def masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero a B x C x L tensor on padding (mask B x L)."""
    return x * mask.unsqueeze(1).to(x.dtype)
