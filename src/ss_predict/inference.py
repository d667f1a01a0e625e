"""Run a model over proteins: length-sorted token-budget batches, probabilities per protein."""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from .alphabet import ss8_to_ss3_matrix
from .batching import EncodedSet, length_batches
from .distributed import DistInfo, gather_objects

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
                 max_tokens: int = 32768, progress=None, shard: DistInfo | None = None) -> list[np.ndarray]:
    """Per protein, L x 8 probabilities (averaged over `models`, in input order).

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


def to_ss3(p8: np.ndarray) -> np.ndarray:
    return p8 @ M83.numpy()
