"""Training a scikit-learn window classifier (models/classical.py): one fit, no loop, then best.pt = last.pt."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from ..config.schema import TrainerConfig
from ..data.batching import EncodedSet
from ..models.classical import residue_windows
from .record import evaluate_model, save_run_checkpoint, write_summary


def fit_classical(cfg: DictConfig, t: TrainerConfig, model, train_set: EncodedSet, valid_set: EncodedSet) -> dict:
    """One fit on sampled windows of the 8-state-labelled chains; returns the validation metrics."""
    rng = np.random.default_rng(cfg.seed)
    xs, ys = [], []
    for p, f in zip(train_set.proteins, train_set.feats):
        if p.ss8 is None:  # 3-state-only chains have no 8-state target for a classifier
            continue
        ok = p.ss8 >= 0
        xs.append(residue_windows(torch.from_numpy(f)[None], model.window)[0].numpy()[ok])
        ys.append(p.ss8[ok].astype(np.int64))
    X, y = np.concatenate(xs), np.concatenate(ys)
    keep = np.sort(rng.choice(len(y), size=min(len(y), int(model.max_windows)), replace=False))
    t0 = time.perf_counter()
    model.fit(X[keep], y[keep])
    fit_s = time.perf_counter() - t0
    metrics = evaluate_model(model, valid_set, torch.device("cpu"), t.eval_max_tokens)
    metrics.update({"epoch": 1, "train_windows": int(len(keep)), "fit_seconds": fit_s,
                    "residues_per_s": len(keep) / fit_s})
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("best.pt", "last.pt"):
        save_run_checkpoint(run_dir / name, cfg, model, metrics, epoch=1)
    write_summary(run_dir, metrics, [metrics], model.n_parameters())
    print(f"[ss-train] {cfg.model.name}: fitted on {len(keep):,} windows in {fit_s:.1f} s; valid Q3 "
          f"{metrics['q3']:.2f} Q8 {metrics['q8']:.2f}", flush=True)
    return metrics
