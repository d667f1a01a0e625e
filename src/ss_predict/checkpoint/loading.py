"""Models from checkpoint files for prediction: bundled names (`model_path`), model specs, rebuilding the networks
with the file's temperatures (`load_models` -> `ModelSet`), and writing ensembles of files."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import __version__
from ..errors import UserError
from ..models import create_model, list_models
from .format import (ENSEMBLE_FORMAT, alphabet_dict, checkpoint_tasks, clean_state_dict, load_checkpoint, members,
                     write_torch_file)

WEIGHTS = Path(__file__).parents[1] / "weights"  # bundled models, by name


def save_ensemble(path: str | Path, sources: list[str | Path], metrics: dict | None = None) -> dict:
    """Write one file holding the models of `sources` (checkpoints or ensembles) for averaging."""
    parts = [m for s in sources for m in members(load_checkpoint(model_path(str(s))))]
    if len({m["features"]["name"] for m in parts}) > 1:
        raise UserError("ensemble members use different feature specs; cannot average them")
    if len({tuple(checkpoint_tasks(m)) for m in parts}) > 1:
        raise UserError("ensemble members predict different tasks; cannot average them")
    ens = {"format": ENSEMBLE_FORMAT, "features": parts[0]["features"], "alphabet": alphabet_dict(),
           "members": [{k: v for k, v in m.items() if k != "train_state"} for m in parts],
           "metrics": metrics or {}, "code_version": __version__}
    write_torch_file(path, ens)
    return ens


def build_model(ckpt: dict, source: str | Path = "checkpoint") -> torch.nn.Module:
    """Rebuild the network of a loaded checkpoint (read from `source`), weights in place, in eval mode."""
    m = ckpt["model"]
    if m["name"] not in list_models():
        raise UserError(f"{source}: field 'model.name' is '{m['name']}', not a model of this version "
                        f"({', '.join(list_models())})")
    try:
        model = create_model(m["name"], ckpt["features"]["n_features"], tasks=checkpoint_tasks(ckpt), **m["kwargs"])
    except (UserError, TypeError, ValueError, RuntimeError, IndexError, KeyError) as e:  # kwargs of the wrong kind
        raise UserError(f"{source}: field 'model.kwargs' does not build model '{m['name']}' ({_first_line(e)})") from None
    state = clean_state_dict(ckpt["state_dict"])
    try:  # (classical models take their fitted tensors in their own load_state_dict)
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError, IndexError) as e:
        want = model.state_dict()
        missing, extra = [k for k in want if k not in state], [k for k in state if k not in want]

        def names(keys): return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        why = "; ".join(([f"missing {names(missing)}"] if missing else [])
                        + ([f"unexpected {names(extra)}"] if extra else [])) or _first_line(e)
        raise UserError(f"{source}: checkpoint weights do not fit model '{m['name']}': {why}") from None
    return model.eval()


def _first_line(e: Exception) -> str:
    """The first line of an error's message that says something (load_state_dict's first line only names the
    class), or its class name."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith("Error(s) in loading state_dict")]
    return (useful or lines or [type(e).__name__])[0]


def bundled_models() -> list[str]:
    return sorted(p.stem for p in WEIGHTS.glob("*.pt"))


def model_path(name_or_path: str) -> Path:
    """A bundled model name (see bundled_models()) or a checkpoint path."""
    p = Path(name_or_path)
    if p.suffix == ".pt" or os.path.lexists(p) or "/" in name_or_path:  # (lexists: no error where unreadable)
        return p
    bundled = WEIGHTS / f"{name_or_path}.pt"
    if not bundled.exists():
        raise UserError(f"no bundled model '{name_or_path}' (bundled: {', '.join(bundled_models()) or 'none'}) "
                        "and no such file")
    return bundled


@dataclass
class ModelSet:
    """Models loaded for prediction: their probabilities are averaged (one model, or an ensemble)."""
    models: list[torch.nn.Module]
    features: str          # the feature spec name they all read ("onehot", "onehot+profile")
    checkpoint: dict       # the first member's checkpoint (model, config, metrics, ...)
    paths: list[Path]      # the files they came from, in the order given
    device: torch.device
    tasks: tuple = ("ss8",)  # what they all predict (models.base.TASKS)

    def __len__(self) -> int:
        return len(self.models)

    def fingerprint(self) -> str:
        """sha256 over the model files' bytes: what a resumed run checks it continues with."""
        h = hashlib.sha256()
        for p in self.paths:
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()


def parse_model_spec(spec) -> list[str]:
    """'default', 'a.pt' or 'a.pt,b.pt' (averaged) -> the names; an empty spec is a one-line error."""
    if not isinstance(spec, str):
        raise TypeError(f"model: expected a bundled name or checkpoint path (str), got {type(spec).__name__}")
    names = [s.strip() for s in spec.split(",")]
    if not spec.strip() or not all(names):
        raise UserError(f"model '{spec}': give a bundled name ({', '.join(bundled_models()) or 'none'}) or "
                        "checkpoint path, several joined by commas without empty parts")
    return names


def set_temperature(models: list, ckpt: dict) -> None:
    """Give the models of one checkpoint file the file's fitted temperatures (1.0 without them)."""
    cal = ckpt.get("calibration") or {}
    for m in models:
        m.temperature = float(cal.get("temperature", 1.0))
        m.temperature3 = float(cal.get("temperature3", 1.0))


def load_models(specs: str | list[str], device: torch.device) -> ModelSet:
    """The models of one or more bundled names / checkpoint paths (a comma-joined string or a list), which
    must share a feature spec; their probabilities are meant to be averaged."""
    names = parse_model_spec(specs) if isinstance(specs, str) else list(specs)
    if not names:
        raise UserError("no model given")
    paths = [model_path(s) for s in names]
    files = [(p, load_checkpoint(p)) for p in paths]
    ckpts = [(p, m) for p, f in files for m in members(f)]
    features = {c["features"]["name"] for _, c in ckpts}
    if len(features) > 1:
        raise UserError(f"models use different feature specs {sorted(features)}; cannot average them")
    tasks = {tuple(checkpoint_tasks(c)) for _, c in ckpts}
    if len(tasks) > 1:
        raise UserError(f"models predict different tasks ({' vs '.join(str(list(t)) for t in sorted(tasks))}); "
                        "cannot average them")
    models = []
    for p, f in files:  # each file's models carry its fitted temperatures (calibration.py)
        built = [build_model(c, p).to(device) for c in members(f)]
        set_temperature(built, f)
        models += built
    return ModelSet(models, features.pop(), ckpts[0][1], paths, device, tasks.pop())
