"""Temperature scaling: calibrated probabilities without changing any 8-state argmax.

A checkpoint file (plain or ensemble) may hold `"calibration": {"temperature": T, "fitted_on": ...,
"before": {...}, "after": {...}}`. `checkpoint.load_models` gives each model of the file the attribute
`temperature` and `temperature3`; `inference.calibrated` then turns the raw (averaged) 8-state probabilities
p of `inference.predict_sets` into softmax(log p / T), which for one model is softmax(logits / T), and the
3-state sums p3 of the raw p into softmax(log p3 / T3). Both maps are monotone per residue, so neither the
8-state nor the 3-state argmax moves: Q8 and Q3 are the uncalibrated model's. Several files averaged
together are left uncalibrated unless they carry the same temperatures (each was fitted for its own output).

T and T3 are fitted (`fit_temperature`) by minimising the negative log-likelihood of the 8-state and the
3-state labels of the validation split only, and each is kept only if it also lowers the validation split's
expected calibration error of its states, else it is 1.0 (`choose_temperatures`); `fit_file` writes them into a
copy of the checkpoint, weights untouched.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import UserError

T_RANGE = (0.25, 4.0)


def temperature(models: list, attr: str = "temperature") -> float:
    """The temperature shared by `models` (1.0 when they carry none or different ones)."""
    temps = {(float(getattr(m, "temperature", 1.0)), float(getattr(m, attr, 1.0))) for m in models}
    return temps.pop()[1] if len(temps) == 1 else 1.0


def temperature3(models: list) -> float:
    """The 3-state temperature shared by `models` (see inference.to_ss3)."""
    return temperature(models, "temperature3")


def set_temperature(models: list, ckpt: dict) -> None:
    """Give the models of one checkpoint file the file's fitted temperatures (1.0 without them)."""
    cal = ckpt.get("calibration") or {}
    for m in models:
        m.temperature = float(cal.get("temperature", 1.0))
        m.temperature3 = float(cal.get("temperature3", 1.0))


def _log_probs(probs: list[np.ndarray], labels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """log p of the scored residues (N x states, float64) and their labels."""
    lp, ys = [], []
    for p, y in zip(probs, labels):
        if y is None:
            continue
        ok = y >= 0
        lp.append(np.log(np.clip(p[ok].astype(np.float64), 1e-30, 1)))
        ys.append(y[ok].astype(np.int64))
    if not lp or not sum(len(y) for y in ys):
        raise UserError("no labelled residues to fit a temperature on")
    return np.concatenate(lp), np.concatenate(ys)


def nll(logp: np.ndarray, y: np.ndarray, t: float) -> float:
    z = logp / t
    z = z - z.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1))
    return float((lse - z[np.arange(len(y)), y]).mean())


def fit_temperature(probs: list[np.ndarray], labels: list[np.ndarray]) -> float:
    """The T in T_RANGE minimising the mean NLL of softmax(log p / T) on the labelled residues
    (golden-section search on log T; the NLL is convex in 1/T)."""
    logp, y = _log_probs(probs, labels)
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(logp, y, math.exp(a)), nll(logp, y, math.exp(b))
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(logp, y, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(logp, y, math.exp(b))
    return round(math.exp((lo + hi) / 2), 4)


def apply_numpy(p: np.ndarray, t: float) -> np.ndarray:
    """softmax(log p / t) over the last axis of a numpy array (what inference.calibrated does with T, T3)."""
    z = np.log(np.clip(p.astype(np.float64), 1e-30, 1)) / t
    z = np.exp(z - z.max(-1, keepdims=True))
    return (z / z.sum(-1, keepdims=True)).astype(np.float32)


def choose_temperatures(proteins: list, probs: list[np.ndarray]) -> dict:
    """T and T3 for the raw 8-state probabilities `probs` of the validation `proteins`: each fitted by NLL,
    and kept only where it lowers the validation ECE of its states (else 1.0: the NLL also rewards the shape of
    the probabilities below the top one, and a temperature that helps it can make the top probability, which
    the ECE and the confidence digits read, less truthful). NLL/ECE before, at the fitted and at the kept T."""
    from .engine import to_ss3
    from ..evaluation.metrics import calibration
    t = fit_temperature(probs, [p.ss8 for p in proteins])
    t3 = fit_temperature([to_ss3(p) for p in probs], [p.ss3 for p in proteins])

    def summary(t, t3):
        c = calibration(proteins, [apply_numpy(p, t) for p in probs], [to_ss3(p, t3) for p in probs])
        return {k: round(c[k], 5) for k in ("nll8", "ece8", "nll3", "ece3")}
    before, fitted = summary(1.0, 1.0), summary(t, t3)
    keep8, keep3 = fitted["ece8"] < before["ece8"], fitted["ece3"] < before["ece3"]
    # T moves only the 8-state figures and T3 only the 3-state ones: the kept pair's are read off, not recomputed
    after = {k: (fitted if (keep8 if k.endswith("8") else keep3) else before)[k] for k in before}
    return {"temperature": t if keep8 else 1.0, "temperature3": t3 if keep3 else 1.0,
            "objective": "NLL of the 8-state labels (temperature) and of the 3-state labels (temperature3, on the "
                         "3-state sums of the raw probabilities), each kept only if it lowers the validation ECE",
            "fitted": {"temperature": t, "temperature3": t3, **fitted},
            "before": before, "after": after}


def fit_file(path, valid: list, fitted_on: dict, device: torch.device, max_tokens: int = 65536) -> dict:
    """Fit the temperatures of checkpoint file `path` on the validation proteins `valid` (choose_temperatures);
    returns the file's dict with "calibration" set (weights untouched)."""
    from ..data.batching import EncodedSet
    from ..checkpoint.format import load_checkpoint, load_models
    from .engine import predict_sets
    ckpt = load_checkpoint(path)
    loaded = load_models([str(path)], device)
    for m in loaded.models:
        m.temperature = 1.0  # fit on the raw probabilities, whatever the file holds already
        m.temperature3 = 1.0
    probs = predict_sets(loaded.models, EncodedSet(valid, loaded.features), device, max_tokens)
    ckpt["calibration"] = {**choose_temperatures(valid, probs), "fitted_on": fitted_on}
    return ckpt
