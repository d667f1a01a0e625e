"""Temperature scaling maths: calibrated probabilities without changing any 8-state argmax.

A checkpoint file (plain or ensemble) may hold `"calibration": {"temperature": T, "temperature3": T3, ...}`
(fitted by evaluation/calibrate.py). `checkpoint.loading.load_models` gives each model of the file the
attributes `temperature` and `temperature3`; `inference.engine.calibrated` then turns the raw (averaged)
8-state probabilities p into softmax(log p / T), which for one model is softmax(logits / T), and the 3-state
sums p3 of the raw p (`to_ss3`) into softmax(log p3 / T3). Both maps are monotone per residue, so neither the
8-state nor the 3-state argmax moves: Q8 and Q3 are the uncalibrated model's. Several files averaged together
are left uncalibrated unless they carry the same temperatures (each was fitted for its own output).
`fit_temperature` finds the T in T_RANGE (a limit of the file format) minimising the labels' NLL.
"""
from __future__ import annotations

import math

import numpy as np

from ..checkpoint.format import T_RANGE
from ..core.alphabet import ss8_to_ss3_matrix
from ..errors import UserError

M83 = ss8_to_ss3_matrix()


def temperature(models: list, attr: str = "temperature") -> float:
    """The temperature (attr="temperature3": the 3-state one) shared by `models` (1.0 when they carry none or
    different ones)."""
    temps = {(float(getattr(m, "temperature", 1.0)), float(getattr(m, attr, 1.0))) for m in models}
    return temps.pop()[1] if len(temps) == 1 else 1.0


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


def to_ss3(p8: np.ndarray, temperature3: float = 1.0) -> np.ndarray:
    """3-state probabilities: sums of the 8-state ones, scaled by a fitted temperature."""
    p3 = p8 @ M83
    return p3 if temperature3 == 1.0 else apply_numpy(p3, temperature3)
