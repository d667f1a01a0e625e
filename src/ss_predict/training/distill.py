"""Knowledge distillation: the teachers' averaged 8-state probabilities on every training chain (the soft targets
that losses.distill_loss mixes in), and their wiring into a run (`check_teachers`, `attach_teachers`).

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
from omegaconf import DictConfig, OmegaConf

from ..checkpoint.format import load_checkpoint
from ..checkpoint.loading import load_models, model_path
from ..config.schema import TrainerConfig
from ..core.files import atomic_path
from ..data.batching import EncodedSet
from ..errors import UserError
from ..inference import distributed
from ..inference.engine import predict_sets


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
        teacher = load_models(teachers, device)
        log(f"[ss-train] teacher probabilities: {len(teachers)} file(s), {len(teacher)} model(s) on "
            f"{len(proteins)} chains ({sum(len(p) for p in proteins):,} residues)")
        probs = predict_sets(teacher.models, EncodedSet(proteins, teacher.features), device, max_tokens)
        flat = np.concatenate(probs).astype(np.float16)
        offsets = np.cumsum([0] + [len(p) for p in probs])
        if path is not None:
            buf = io.BytesIO()
            np.savez(buf, probs=flat, offsets=offsets)
            with atomic_path(path) as tmp:
                tmp.write_bytes(buf.getvalue())
    return [flat[offsets[i]:offsets[i + 1]].astype(np.float32) for i in range(len(proteins))]


def check_teachers(cfg: DictConfig) -> list[str]:
    """The distillation teachers (none when `teacher` is null), each checked to be a readable checkpoint
    before any data is read or a run folder is made."""
    teacher = cfg.get("teacher")
    if teacher is None:
        return []
    teachers = [str(x) for x in teacher] if OmegaConf.is_list(teacher) else [str(teacher)]
    if not teachers:
        raise UserError("teacher=[] names no checkpoint: give one or more (teacher=[a.pt,b.pt]) or leave it unset")
    for name in teachers:
        load_checkpoint(model_path(name))
    return teachers


def attach_teachers(cfg: DictConfig, t: TrainerConfig, teachers: list[str], train_set: EncodedSet, device,
                    dinfo) -> None:
    """Distillation: every training chain gets the teachers' averaged 8-state probabilities (cached)."""
    cache = Path(cfg.paths.output_dir) / "cache"

    def compute():
        return teacher_probabilities(teachers, train_set.proteins, device, t.eval_max_tokens,
                                     cache, log=print if dinfo.main else (lambda *a, **k: None))

    if dinfo.main:  # rank 0 predicts and writes the cache; the other ranks then read it
        train_set.soft = compute()
    distributed.barrier()
    if not dinfo.main:
        train_set.soft = compute()
