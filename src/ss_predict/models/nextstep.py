"""Next-step conditioned CNN (after Busia & Jaitly 2017): a convolutional encoder of the chain plus a
per-residue decoder that also sees the state of the previous residue.

Training uses teacher forcing (the true previous state; an extra "unknown" token where that label is
missing and at the chain start). Prediction decodes left to right, greedily (`beam=1`) or by beam
search of width `beam` maximising sum_t log p(s_t | s_{t-1}, x).

Decoding cost: the encoder runs once over the chain (as in any CNN); the decoder then takes L
sequential steps, each evaluating `beam` x (one MLP of (channels + state_dim) x hidden + hidden x 8
multiply-adds) per chain, i.e. about beam x ((channels + state_dim) x hidden + 8 x hidden) MACs per
residue, but on a sequential critical path of L steps, so it is latency-bound on long chains.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import ChannelNorm, SSModel, masked
from .registry import register_model

START = 8  # the "unknown / chain start" previous-state token


@register_model("nextstep_cnn")
class NextStepCNN(SSModel):
    teacher_forcing = True

    def __init__(self, in_features: int, channels: int = 96, kernel: int = 9, layers: int = 3, state_dim: int = 16,
                 hidden: int = 96, beam: int = 1, dropout: float = 0.2, tasks=("ss8",)):
        super().__init__(tasks)
        self.kernel, self.layers, self.beam = kernel, layers, beam
        self.stem = nn.Conv1d(in_features, channels, kernel, padding=kernel // 2)
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=kernel // 2) for _ in range(layers))
        self.norms = nn.ModuleList(ChannelNorm(channels) for _ in range(layers))
        self.drop = nn.Dropout(dropout)
        self.state = nn.Embedding(self.n_states + 1, state_dim)
        self.dec = nn.Sequential(nn.Linear(channels + state_dim, hidden), nn.GELU(), nn.Linear(hidden, self.n_outputs))

    def receptive_field(self) -> None:
        return None  # the previous state carries information from the whole left context

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.stem(masked(x.transpose(1, 2), mask))
        for conv, norm in zip(self.convs, self.norms):
            h = h + conv(masked(self.drop(torch.nn.functional.gelu(norm(h))), mask))
        return h.transpose(1, 2)  # B x L x C

    def step(self, h_t: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.cat([h_t, self.state(prev)], dim=-1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, y8: torch.Tensor | None = None) -> torch.Tensor:
        h = self.encode(x, mask)
        if y8 is not None:  # teacher forcing
            prev = torch.full_like(y8, START)
            prev[:, 1:] = torch.where(y8[:, :-1] >= 0, y8[:, :-1], START)
            return self.step(self.drop(h), prev)
        return self.decode(h, self.beam)[1]

    @torch.no_grad()
    def decode(self, h: torch.Tensor, beam: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(best state path B x L, per-step outputs along it B x L x n_outputs) by beam search (beam=1: greedy)."""
        b, n, _ = h.shape
        k = self.n_states
        score = h.new_zeros(b, 1)                                   # B x beams
        prev = torch.full((b, 1), START, dtype=torch.long, device=h.device)
        logits_hist, back_hist, state_hist = [], [], []
        for t in range(n):
            nb = prev.shape[1]
            lg = self.step(h[:, t, None, :].expand(b, nb, -1), prev).float()   # B x beams x 8
            cand = (score[:, :, None] + torch.log_softmax(lg[..., :k], -1)).reshape(b, nb * k)
            score, flat = cand.topk(min(beam, nb * k), dim=1)
            back, prev = flat // k, flat % k
            logits_hist.append(lg)
            back_hist.append(back)
            state_hist.append(prev)
        path = h.new_zeros(b, n, dtype=torch.long)
        out = h.new_zeros(b, n, self.n_outputs, dtype=torch.float32)
        idx = torch.zeros(b, dtype=torch.long, device=h.device)     # best final beam (topk is sorted)
        rows = torch.arange(b, device=h.device)
        for t in range(n - 1, -1, -1):
            path[:, t] = state_hist[t][rows, idx]
            parent = back_hist[t][rows, idx]
            out[:, t] = logits_hist[t][rows, parent]
            idx = parent
        return path, out
