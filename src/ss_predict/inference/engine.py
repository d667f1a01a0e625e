"""Run a model over proteins: length-sorted token-budget batches, probabilities per protein."""
from __future__ import annotations

import contextlib
import re

import numpy as np
import torch

from ..data.batching import EncodedSet, length_batches
from ..errors import UserError
from .calibration import apply_numpy, temperature, to_ss3
from .distributed import DistInfo, gather_objects


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' (CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'; anything else, or CUDA on a
    machine without it, is a one-line UserError."""
    name = str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise UserError("device 'mps' asked for, but Apple's MPS is not available here; use cpu or auto")
        return torch.device("mps")
    if re.fullmatch(r"cuda(:\d+)?", name):
        if not torch.cuda.is_available():
            raise UserError(f"device '{name}' asked for, but no CUDA device is available here; use cpu or auto")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise UserError(f"device '{name}' asked for, but only {torch.cuda.device_count()} CUDA device(s) "
                            f"are visible (cuda:0 .. cuda:{torch.cuda.device_count() - 1})")
        return torch.device(name)
    raise UserError(f"unknown device '{name}': use auto, cpu, cuda or cuda:N (or mps)")


def autocast(device: torch.device, enabled: bool = True):
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def predict_sets(models: list[torch.nn.Module], data: EncodedSet, device: torch.device,
                 max_tokens: int = 32768, progress=None, shard: DistInfo | None = None) -> list[np.ndarray]:
    """Per protein, L x 8 probabilities (averaged over `models`, in input order), as the models give them:
`calibrated` applies a file's fitted temperatures.

    With `shard`, this rank runs every world-th length batch and the results are gathered, so each
    protein is computed in exactly the batch a single process would use (identical numbers).
    """
    batches = length_batches(data.lengths, max_tokens)
    if shard is not None and shard.enabled:
        batches = batches[shard.rank::shard.world]
    out: dict[int, np.ndarray] = {}
    with torch.inference_mode():
        for idx in batches:
            batch = data.batch(idx)
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
    if shard is not None and shard.enabled:
        for part in gather_objects(out):
            out.update(part)
    return [out[i] for i in range(len(data.proteins))]


def calibrated(raw: np.ndarray, models: list) -> tuple[np.ndarray, np.ndarray]:
    """(8-state, 3-state) probabilities of one protein from the raw ones of `predict_sets`, with the models'
    fitted temperatures (calibration.py): p8 = softmax(log raw / T), p3 = softmax(log(3-state sums of raw) / T3),
    neither moving an argmax. (So p3 need not be exactly the 3-state sums of the calibrated p8.)"""
    t = temperature(models)
    return (raw if t == 1.0 else apply_numpy(raw, t)), to_ss3(raw, temperature(models, "temperature3"))
