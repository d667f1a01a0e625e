"""Checkpoints: plain containers and tensors only, loadable with `torch.load(weights_only=True)`.

{"format", "model": {"name", "kwargs"}, "features": spec dict, "alphabet": {...}, "state_dict",
 "config" (resolved, plain dict), "metrics", "epoch", "data_manifest_sha256", "code_version",
 optional "train_state" (optimizer, scheduler, RNG, early-stopping state; in `last.pt` only)}

An ensemble file holds several such checkpoints (without train state) whose probabilities are averaged:
{"format": ENSEMBLE_FORMAT, "features", "alphabet", "members": [checkpoint, ...], "metrics", "code_version"}
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from . import __version__
from .alphabet import RESIDUES, SS3, SS8, SS8_TO_SS3
from .errors import UserError
from .io_utils import atomic_path
from .models import create_model

FORMAT = "ss-predict-checkpoint/1"
ENSEMBLE_FORMAT = "ss-predict-ensemble/1"
WEIGHTS = Path(__file__).parent / "weights"  # bundled models, by name


def alphabet_dict() -> dict:
    return {"residues": RESIDUES, "ss8": SS8, "ss3": SS3, "ss8_to_ss3": dict(SS8_TO_SS3)}


def clean_state_dict(state: dict) -> dict:
    """Strip the `_orig_mod.` prefix that torch.compile adds."""
    return {k.replace("_orig_mod.", ""): v for k, v in state.items()}


def save_checkpoint(path: str | Path, *, model: torch.nn.Module, model_cfg: dict, features: dict, config: dict,
                    metrics: dict | None = None, epoch: int = 0, manifest_sha256: str | None = None,
                    train_state: dict | None = None, state_dict: dict | None = None) -> None:
    ckpt = {
        "format": FORMAT,
        "model": {"name": model_cfg["name"], "kwargs": dict(model_cfg.get("kwargs") or {})},
        "features": features,
        "alphabet": alphabet_dict(),
        "state_dict": clean_state_dict(state_dict if state_dict is not None else model.state_dict()),
        "config": config,
        "metrics": metrics or {},
        "epoch": epoch,
        "data_manifest_sha256": manifest_sha256,
        "code_version": __version__,
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt or foreign files
        raise UserError(f"{path}: not a readable ss-predict checkpoint ({_load_problem(e)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") not in (FORMAT, ENSEMBLE_FORMAT):
        found = f"format {ckpt.get('format')!r}" if isinstance(ckpt, dict) else f"a {type(ckpt).__name__}"
        raise UserError(f"{path}: not an ss-predict checkpoint ({found}; expected one written by ss-train)")
    if ckpt["alphabet"]["residues"] != RESIDUES or ckpt["alphabet"]["ss8"] != SS8:
        raise UserError(f"{path}: checkpoint uses another residue or state alphabet")
    return ckpt


def _load_problem(e: Exception) -> str:
    """A short, clean reason for torch.load's failure (its messages run to paragraphs of advice)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    unsupported = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if unsupported:
        return (f"it stores the Python object {unsupported.group(1)}, not only tensors and plain containers; "
                "ss-predict loads checkpoints written by ss-train")
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0].strip()
        return f"not a PyTorch file, or damaged: {detail}"
    if "failed reading zip archive" in text:
        return "a truncated or damaged file: " + text.split("failed reading zip archive:", 1)[1].split(".")[0].strip()
    if isinstance(e, EOFError):
        return "an empty or truncated file"
    first = text.strip().splitlines()[0] if text.strip() else ""
    if len(first) > 100:
        first = first[:100].rsplit(" ", 1)[0] + " ..."
    return f"not a PyTorch file, or damaged: {type(e).__name__}" + (f" {first}" if first else "")


def model_mismatch(ckpt: dict, model_cfg: dict) -> str | None:
    """How the model of a checkpoint differs from `model_cfg` ({name, kwargs}), or None when they agree."""
    have, want = ckpt["model"], {"name": model_cfg["name"], "kwargs": dict(model_cfg.get("kwargs") or {})}
    if have["name"] != want["name"]:
        return f"model {have['name']} and this run asks for model {want['name']}"
    keys = sorted(k for k in set(have["kwargs"]) | set(want["kwargs"])
                  if have["kwargs"].get(k) != want["kwargs"].get(k))
    if not keys:
        return None
    def show(kw): return ", ".join(f"{k}={kw.get(k)}" for k in keys)
    return f"model {have['name']} ({show(have['kwargs'])}) and this run asks for ({show(want['kwargs'])})"


def members(ckpt: dict) -> list[dict]:
    """The single checkpoints inside a loaded file (one for a plain checkpoint)."""
    return list(ckpt["members"]) if ckpt["format"] == ENSEMBLE_FORMAT else [ckpt]


def save_ensemble(path: str | Path, sources: list[str | Path], metrics: dict | None = None) -> dict:
    """Write one file holding the models of `sources` (checkpoints or ensembles) for averaging."""
    parts = [m for s in sources for m in members(load_checkpoint(model_path(str(s))))]
    if len({m["features"]["name"] for m in parts}) > 1:
        raise UserError("ensemble members use different feature specs; cannot average them")
    ens = {"format": ENSEMBLE_FORMAT, "features": parts[0]["features"], "alphabet": alphabet_dict(),
           "members": [{k: v for k, v in m.items() if k != "train_state"} for m in parts],
           "metrics": metrics or {}, "code_version": __version__}
    with atomic_path(path) as tmp:
        torch.save(ens, tmp)
    return ens


def build_model(ckpt: dict) -> torch.nn.Module:
    """Rebuild the network of a loaded checkpoint, weights in place, in eval mode."""
    m = ckpt["model"]
    model = create_model(m["name"], ckpt["features"]["n_features"], **m["kwargs"])
    try:
        model.load_state_dict(clean_state_dict(ckpt["state_dict"]))
    except RuntimeError as e:
        raise UserError(f"checkpoint weights do not fit model '{m['name']}': {str(e).splitlines()[0]}") from None
    return model.eval()


def bundled_models() -> list[str]:
    return sorted(p.stem for p in WEIGHTS.glob("*.pt"))


def model_path(name_or_path: str) -> Path:
    """A bundled model name (see bundled_models()) or a checkpoint path."""
    p = Path(name_or_path)
    if p.suffix == ".pt" or p.exists() or "/" in name_or_path:
        return p
    bundled = WEIGHTS / f"{name_or_path}.pt"
    if not bundled.exists():
        raise UserError(f"no bundled model '{name_or_path}' (bundled: {', '.join(bundled_models()) or 'none'}) "
                        "and no such file")
    return bundled


def load_models(specs: list[str], device: torch.device) -> tuple[list[torch.nn.Module], dict]:
    """Models of one or more bundled names / checkpoint paths (which must share a feature spec) and the
    first checkpoint; their probabilities are meant to be averaged (then scaled by the files' temperature,
    see calibration.py)."""
    from .calibration import set_temperature
    files = [load_checkpoint(model_path(s)) for s in specs]
    ckpts = [m for f in files for m in members(f)]
    names = {c["features"]["name"] for c in ckpts}
    if len(names) > 1:
        raise UserError(f"models use different feature specs {sorted(names)}; cannot average them")
    models = []
    for f in files:  # each file's models carry its fitted temperature (calibration.py)
        built = [build_model(c).to(device) for c in members(f)]
        set_temperature(built, f)
        models += built
    return models, ckpts[0]
