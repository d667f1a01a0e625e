"""PHD-style windowed feed-forward network (Rost & Sander 1993), written as 1-D convolutions.

Level 1 (sequence-to-structure): a window of W residues -> hidden units (sigmoid) -> 8 states.
Level 2 (structure-to-structure, optional): a window of W2 level-1 outputs -> hidden -> 8 states.
A convolution of width W over a whole chain is the same network applied at every window position.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError
from .base import SSModel, masked
from .registry import register_model


@register_model("phd")
class PHD(SSModel):
    def __init__(self, in_features: int, window: int = 17, hidden: int = 64, second_level: bool = False,
                 window2: int = 17, hidden2: int = 32, dropout: float = 0.1,
                 tasks=("ss8",)):
        super().__init__(tasks)
        for key, w in (("window", window), ("window2", window2)):
            if w % 2 == 0:
                raise UserError(f"model 'phd': model.kwargs.{key}={w} must be odd")
        self.window, self.window2, self.second_level = window, window2, second_level
        self.level1 = nn.Conv1d(in_features, hidden, window, padding=window // 2)
        self.drop = nn.Dropout(dropout)
        self.out1 = nn.Conv1d(hidden, self.n_outputs, 1)
        if second_level:
            self.level2 = nn.Conv1d(self.n_states, hidden2, window2, padding=window2 // 2)
            self.out2 = nn.Conv1d(hidden2, self.n_outputs, 1)

    def receptive_field(self) -> int:
        return self.window + (self.window2 - 1 if self.second_level else 0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = masked(x.transpose(1, 2), mask)
        h = self.out1(self.drop(torch.sigmoid(self.level1(h))))
        if self.second_level:
            h = masked(torch.softmax(h[:, :self.n_states], dim=1), mask)  # level 2 reads the states
            h = self.out2(self.drop(torch.sigmoid(self.level2(h))))
        return h.transpose(1, 2)
