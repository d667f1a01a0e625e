"""Knowledge distillation: the teachers' averaged 8-state probabilities on every training chain.

Computed once per (teachers, training chains) and cached as float16 in
`<output_dir>/cache/teacher-<hash>.npz`, so resumed or repeated runs do not predict again. The cache key
hashes the teacher files' bytes and the training chains' ids and sequences.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from ..data.batching import EncodedSet
from ..checkpoint.format import load_checkpoint, members
from ..checkpoint.loading import load_models, model_path
from ..inference.engine import predict_sets
from ..core.files import atomic_path


def cache_key(teachers: list[str], proteins: list) -> str:
    h = hashlib.sha256()
    for t in teachers:
        h.update(model_path(t).read_bytes())
    for p in proteins:
        h.update(f"{p.id}\t{p.sequence}\n".encode())
    return h.hexdigest()[:16]


def teacher_probabilities(teachers: list[str], proteins: list, device: torch.device, max_tokens: int,
                          cache_dir: str | Path | None = None, log=print) -> list[np.ndarray]:
    """Per protein an L x 8 float32 array: the teachers' probabilities, averaged over all their members."""
    path = Path(cache_dir) / f"teacher-{cache_key(teachers, proteins)}.npz" if cache_dir else None
    if path is not None and path.exists():
        with np.load(path) as z:
            flat, offsets = z["probs"], z["offsets"]
        log(f"[ss-train] teacher probabilities from cache {path}")
    else:
        n_members = sum(len(members(load_checkpoint(model_path(t)))) for t in teachers)
        log(f"[ss-train] teacher probabilities: {len(teachers)} file(s), {n_members} model(s) on "
            f"{len(proteins)} chains ({sum(len(p) for p in proteins):,} residues)")
        teacher = load_models(teachers, device)
        probs = predict_sets(teacher.models, EncodedSet(proteins, teacher.features), device, max_tokens)
        flat = np.concatenate(probs).astype(np.float16)
        offsets = np.cumsum([0] + [len(p) for p in probs])
        if path is not None:
            buf = io.BytesIO()
            np.savez(buf, probs=flat, offsets=offsets)
            with atomic_path(path) as tmp:
                tmp.write_bytes(buf.getvalue())
    return [flat[offsets[i]:offsets[i + 1]].astype(np.float32) for i in range(len(proteins))]
