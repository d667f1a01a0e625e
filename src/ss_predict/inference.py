"""Run a model over proteins: length-sorted token-budget batches, probabilities per protein."""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from .alphabet import ss8_to_ss3_matrix
from .batching import EncodedSet

M83 = torch.from_numpy(ss8_to_ss3_matrix())


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        from .errors import UserError
        raise UserError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool = True):
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def predict_sets(models: list[torch.nn.Module], data: EncodedSet, device: torch.device,
                 max_tokens: int = 32768, progress=None) -> list[np.ndarray]:
    """Per protein, L x 8 probabilities (averaged over `models`, in input order)."""
    out: list[np.ndarray | None] = [None] * len(data.proteins)
    with torch.inference_mode():
        for batch in data.eval_batches(max_tokens):
            b = batch.to(device)
            probs = 0
            for model in models:
                with autocast(device):
                    logits = model(b.x, b.mask)
                probs = probs + torch.softmax(logits.float(), dim=-1)
            probs = (probs / len(models)).cpu().numpy()
            for j, i in enumerate(batch.index):
                out[i] = probs[j, : batch.lengths[j]]
            if progress is not None:
                progress.update(sum(batch.lengths))
    return out


def to_ss3(p8: np.ndarray) -> np.ndarray:
    return p8 @ M83.numpy()
