"""Run a model over proteins: length-sorted token-budget batches, probabilities per protein."""
from __future__ import annotations

import contextlib
import re

import numpy as np
import torch

from ..data.batching import EncodedSet, length_batches
from ..errors import OutOfMemory, UserError, is_out_of_memory
from ..models.base import task_slices
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


# A chain longer than SEGMENT residues (longer than any known protein: titin, the longest, has ~36,000) is
# predicted in overlapping segments of at most SEGMENT residues: each keeps its central part and sees OVERLAP
# residues of context on either side, so memory and the time between two checks for a signal are bounded
# whatever the chain's length. Chains up to SEGMENT residues are predicted whole, as they always were.
SEGMENT, OVERLAP = 65_536, 2_048


def segments(n: int, segment: int = SEGMENT, overlap: int = OVERLAP) -> list[tuple[int, int, int, int]]:
    """(start, end, keep_start, keep_end) of the pieces of a chain of `n` residues: one piece (0, n, 0, n) up to
    `segment` residues, else pieces of at most `segment` residues whose kept parts tile [0, n) in order."""
    if n <= segment:
        return [(0, n, 0, n)]
    if not 0 <= 2 * overlap < segment:
        raise ValueError(f"segment {segment} must exceed twice the overlap {overlap}")
    core = segment - 2 * overlap
    return [(max(0, s - overlap), min(n, s + core + overlap), s, min(n, s + core)) for s in range(0, n, core)]


def predict_sets(models: list[torch.nn.Module], data: EncodedSet, device: torch.device,
                 max_tokens: int = 32768, progress=None, shard: DistInfo | None = None,
                 segment: int = SEGMENT, overlap: int = OVERLAP, tasks: bool = False) -> list[np.ndarray]:
    """Per protein, L x 8 probabilities (averaged over `models`, in input order), as the models give them:
`calibrated` applies a file's fitted temperatures. With `tasks`, L x n_outputs: the 8 probabilities, then the
    other tasks' values in the models' column order (`task_values` reads them). Chains longer than `segment` are
    predicted in overlapping pieces (`segments`) and stitched. Out of memory is an OutOfMemory error naming the
    batch's first record.

    With `shard`, this rank runs every world-th length batch and the results are gathered, so each
    protein is computed in exactly the batch a single process would use (identical numbers).
    """
    pieces = [(i, *seg) for i, n in enumerate(data.lengths) for seg in segments(int(n), segment, overlap)]
    batches = length_batches([e - s for _, s, e, _, _ in pieces], max_tokens)
    if shard is not None and shard.enabled:
        batches = batches[shard.rank::shard.world]
    out: dict[int, np.ndarray] = {}
    with torch.inference_mode():
        for idx in batches:
            try:
                probs = _forward(models, data, [pieces[k] for k in idx], device, tasks)
            except Exception as e:
                if not is_out_of_memory(e):
                    raise
                raise OutOfMemory(_oom_message(data, [pieces[k] for k in idx], device, max_tokens)) from None
            for j, k in enumerate(idx):
                _, s, _, a, b = pieces[k]
                out[k] = probs[j, a - s: b - s]
            if progress is not None:
                progress.update(sum(pieces[k][4] - pieces[k][3] for k in idx))
    if shard is not None and shard.enabled:
        for part in gather_objects(out):
            out.update(part)
    whole: dict[int, list[np.ndarray]] = {}
    for k, (i, *_) in enumerate(pieces):
        whole.setdefault(i, []).append(out.pop(k))
    return [parts[0] if len(parts) == 1 else np.concatenate(parts) for parts in whole.values()]


def _oom_message(data: EncodedSet, pieces: list, device, max_tokens: int) -> str:
    first = data.proteins[pieces[0][0]]
    where = f"record '{first.id}' ({len(first):,} residues)"
    if len(pieces) > 1:
        return (f"out of memory on {device.type} predicting {where} and {len(pieces) - 1} more in one batch: lower "
                f"--max-tokens (now {max_tokens:,} residues per batch) or free memory")
    return (f"out of memory on {device.type} predicting {where} alone ({pieces[0][2] - pieces[0][1]:,} residues "
            "at once): free memory or use a device with more")


def _forward(models, data: EncodedSet, pieces: list[tuple[int, int, int, int, int]], device,
             tasks: bool = False) -> np.ndarray:
    """B x L x 8 probabilities (averaged over `models`) of a batch of pieces (protein, start, end, ...); with
    `tasks`, every task's values after them (`head_values`)."""
    b = data.batch([p[0] for p in pieces], [(p[1], p[2]) for p in pieces]).to(device)
    probs = 0
    for model in models:
        with autocast(device):
            out = model(b.x, b.mask)
        if not tasks:
            out = out[..., :8] if out.shape[-1] > 8 else out
            probs = probs + torch.softmax(out.float(), dim=-1)
        else:
            probs = probs + head_values(model.split(out.float()))
    return (probs / len(models)).cpu().numpy()


def head_values(parts: dict) -> torch.Tensor:
    """A model's split outputs -> B x L x n_outputs values: 8-state probabilities, RSA (sigmoid), (sin, cos) of phi
    and psi (each pair scaled to unit length), disorder probability (sigmoid); averaged over an ensemble as they are."""
    cols = [torch.softmax(parts["ss8"], dim=-1)]
    if "rsa" in parts:
        cols.append(torch.sigmoid(parts["rsa"]).unsqueeze(-1))
    if "angles" in parts:
        a = parts["angles"].unflatten(-1, (2, 2))
        cols.append((a / a.norm(dim=-1, keepdim=True).clamp(min=1e-6)).flatten(-2))
    if "disorder" in parts:
        cols.append(torch.sigmoid(parts["disorder"]).unsqueeze(-1))
    return torch.cat(cols, dim=-1)


def task_values(values: np.ndarray, tasks) -> dict[str, np.ndarray]:
    """One protein's L x n_outputs values (`predict_sets(..., tasks=True)`) -> {"rsa", "phi", "psi", "disorder"}
    for the tasks it has: RSA 0..1, phi / psi in degrees (-180, 180], disorder probability."""
    cols = task_slices(tasks)
    out = {}
    if "rsa" in cols:
        out["rsa"] = values[:, cols["rsa"]][:, 0]
    if "angles" in cols:
        a = values[:, cols["angles"]]
        out["phi"] = np.degrees(np.arctan2(a[:, 0], a[:, 1]))
        out["psi"] = np.degrees(np.arctan2(a[:, 2], a[:, 3]))
    if "disorder" in cols:
        out["disorder"] = values[:, cols["disorder"]][:, 0]
    return out


def calibrated(raw: np.ndarray, models: list) -> tuple[np.ndarray, np.ndarray]:
    """(8-state, 3-state) probabilities of one protein from the raw ones of `predict_sets`, with the models'
    fitted temperatures (calibration.py): p8 = softmax(log raw / T), p3 = softmax(log(3-state sums of raw) / T3),
    neither moving an argmax. (So p3 need not be exactly the 3-state sums of the calibrated p8.) Task columns
    after the first 8 (`predict_sets(..., tasks=True)`) are ignored here."""
    raw = raw[:, :8]
    t = temperature(models)
    return (raw if t == 1.0 else apply_numpy(raw, t)), to_ss3(raw, temperature(models, "temperature3"))
