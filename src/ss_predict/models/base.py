"""Pieces shared by the architectures: the (features, mask) -> outputs contract, the task heads, masked layers."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError

# The tasks a model can predict beside the 8 states, in the order of its output columns, with their widths:
# ss8 (8 logits), rsa (1 logit: RSA = sigmoid), angles (sin phi, cos phi, sin psi, cos psi), disorder (1 logit).
TASKS = {"ss8": 8, "rsa": 1, "angles": 4, "disorder": 1}


def check_tasks(tasks) -> tuple[str, ...]:
    """A list of task names -> the canonical tuple (TASKS order); ss8 is required; else one UserError line."""
    tasks = [tasks] if isinstance(tasks, str) else list(tasks or ())
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise UserError(f"config error: tasks={list(tasks)}: unknown task {unknown[0]!r} (tasks: {', '.join(TASKS)})")
    if "ss8" not in tasks:
        raise UserError(f"config error: tasks={list(tasks)} must include ss8 (the trunk is trained on structure)")
    return tuple(t for t in TASKS if t in tasks)


def task_slices(tasks) -> dict[str, slice]:
    """Each task's columns in a model's output."""
    out, start = {}, 0
    for t in check_tasks(tasks):
        out[t] = slice(start, start + TASKS[t])
        start += TASKS[t]
    return out


class SSModel(nn.Module):
    """features B x L x F (zeros on padding) and mask B x L -> outputs B x L x n_outputs: the 8-state logits,
    then one head's columns per further task (`TASKS`; an SS-only model's outputs are its 8 logits).

    Subclasses must not let padding change any residue's output: convolutions see zeros beyond a
    chain's end whether it is alone or batched with longer chains, recurrences never read padding.
    A subclass that takes `tasks` passes it to `SSModel.__init__` and sizes its last layer `n_outputs`.
    """

    model_name = "base"
    n_states = 8

    def __init__(self, tasks=("ss8",)):
        super().__init__()
        self.tasks = check_tasks(tasks)
        self.n_outputs = sum(TASKS[t] for t in self.tasks)

    def split(self, out: torch.Tensor) -> dict[str, torch.Tensor]:
        """B x L x n_outputs -> {task: its columns} (rsa and disorder squeezed to B x L)."""
        parts = {t: out[..., s] for t, s in task_slices(self.tasks).items()}
        for t in ("rsa", "disorder"):
            if t in parts:
                parts[t] = parts[t].squeeze(-1)
        return parts

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
