"""Fitting a checkpoint's temperatures on a validation split (what scripts/calibrate.py runs).

T and T3 are fitted (`inference.calibration.fit_temperature`) by minimising the negative log-likelihood of the
8-state and the 3-state labels of the validation split only, and each is kept only if it also lowers the
validation split's expected calibration error of its states, else it is 1.0 (`choose_temperatures`);
`fit_file` writes them into a copy of the checkpoint, weights untouched.
"""
from __future__ import annotations

import numpy as np
import torch

from ..checkpoint.format import load_checkpoint
from ..checkpoint.loading import load_models, set_temperature
from ..data.batching import EncodedSet
from ..inference.calibration import apply_numpy, fit_temperature, to_ss3
from ..inference.engine import predict_sets
from .metrics import calibration


def choose_temperatures(proteins: list, probs: list[np.ndarray]) -> dict:
    """T and T3 for the raw 8-state probabilities `probs` of the validation `proteins`: each fitted by NLL,
    and kept only where it lowers the validation ECE of its states (else 1.0: the NLL also rewards the shape of
    the probabilities below the top one, and a temperature that helps it can make the top probability, which
    the ECE and the confidence digits read, less truthful). NLL/ECE before, at the fitted and at the kept T."""
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
    ckpt = load_checkpoint(path)
    loaded = load_models([str(path)], device)
    set_temperature(loaded.models, {})  # fit on the raw probabilities, whatever the file holds already
    probs = predict_sets(loaded.models, EncodedSet(valid, loaded.features), device, max_tokens)
    ckpt["calibration"] = {**choose_temperatures(valid, probs), "fitted_on": fitted_on}
    return ckpt
