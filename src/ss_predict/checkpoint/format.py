"""The checkpoint file format: write, read and validate it (training state included); loading.py builds models.

Plain containers and tensors only, loadable with `torch.load(weights_only=True)`:

{"format", "model": {"name", "kwargs"}, "features": spec dict, "tasks": [ss8, ...] (models.base.TASKS; a file
 without it predicts ss8 only), "alphabet": {...}, "state_dict",
 "config" (resolved, plain dict), "metrics", "epoch", "data_manifest_sha256", "code_version",
 optional "train_state" (optimizer, scheduler, RNG, early-stopping state; in `last.pt` only)}

An ensemble file holds several such checkpoints (without train state) whose probabilities are averaged:
{"format": ENSEMBLE_FORMAT, "features", "alphabet", "members": [checkpoint, ...], "metrics", "code_version"}
"""
from __future__ import annotations

import io
import re
import stat
import warnings
from pathlib import Path

import torch

from .. import __version__
from ..core.alphabet import RESIDUES, SS3, SS8, SS8_TO_SS3
from ..core.files import atomic_write_bytes
from ..data.features import SPECS
from ..errors import UserError
from ..models.base import TASKS

FORMAT = "ss-predict-checkpoint/1"
ENSEMBLE_FORMAT = "ss-predict-ensemble/1"
T_RANGE = (0.25, 4.0)  # the temperatures a file's "calibration" may hold (inference/calibration.py fits them)


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
        "tasks": list(getattr(model, "tasks", ("ss8",))),
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
    write_torch_file(path, ckpt)


def write_torch_file(path: str | Path, obj) -> None:
    """torch.save `obj` into `path` whole or not at all, on disk before it replaces the file there: serialised in
    memory first (torch's own file writer reports a full disk as an "unexpected pos" RuntimeError deep in its zip
    code), so a failed write (full disk, quota, read-only, I/O error) is one line naming `path` and leaves the
    previous file, the last good checkpoint, as it was."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getbuffer(), sync=True)


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint or ensemble file, checked: every field read later is there with the right type, and
    every weight is a finite number. Anything else is one UserError naming the file and the field."""
    path = Path(path)
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise UserError(f"model file not found: {path}") from None
    except OSError as e:
        raise UserError(f"cannot read model file {path}: {e.strerror or type(e).__name__}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"model file {path} is a folder or device, not a checkpoint file")
    try:
        with warnings.catch_warnings():  # torch's notes on a foreign file (e.g. "Detected pickle protocol 4"):
            warnings.simplefilter("ignore")  # the one line below says what is wrong with it
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise UserError(f"cannot read model file {path}: {e.strerror or type(e).__name__}") from None
    except Exception as e:  # torch raises many types for corrupt or foreign files
        raise UserError(f"{path}: not a readable ss-predict checkpoint ({_load_problem(e)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") not in (FORMAT, ENSEMBLE_FORMAT):
        found = f"format {ckpt.get('format')!r}" if isinstance(ckpt, dict) else f"a {type(ckpt).__name__}"
        raise UserError(f"{path}: not an ss-predict checkpoint ({found}; expected one written by ss-train)")
    alphabet = field_of(ckpt, "alphabet", dict, path)
    if alphabet.get("residues") != RESIDUES or alphabet.get("ss8") != SS8:
        raise UserError(f"{path}: checkpoint uses another residue or state alphabet")
    if ckpt["format"] == ENSEMBLE_FORMAT:
        parts = field_of(ckpt, "members", list, path)
        if not parts:
            raise UserError(f"{path}: damaged checkpoint: field 'members' is empty")
        _check_features(ckpt, path)
        for i, m in enumerate(parts):
            if not isinstance(m, dict):
                raise UserError(f"{path}: damaged checkpoint: field 'members[{i}]' is a {type(m).__name__}, "
                                "expected a checkpoint")
            _check_single(m, path, f"members[{i}].")
    else:
        _check_single(ckpt, path)
    _check_calibration(ckpt, path)
    return ckpt


def _check_calibration(ckpt: dict, path: Path) -> None:
    """The optional "calibration" of a file (calibration.py): its temperatures are numbers in T_RANGE (a
    negative or zero temperature would flip or break every prediction)."""
    if ckpt.get("calibration") is None:
        return
    cal = field_of(ckpt, "calibration", dict, path)
    for key in ("temperature", "temperature3"):
        if key not in cal:
            continue
        t = cal[key]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not T_RANGE[0] <= t <= T_RANGE[1]:
            raise UserError(f"{path}: damaged checkpoint: field 'calibration.{key}' is {_short(t)}, expected a "
                            f"number from {T_RANGE[0]} to {T_RANGE[1]} (refit it, or delete the field)")


_TYPE_NAMES = {dict: "a dict", list: "a list", str: "a string", int: "a whole number"}


def field_of(d: dict, key: str, typ: type, path: Path, at: str = ""):
    """d[key], which must be a `typ`; else a UserError naming the file and the field (`at` + key)."""
    if key not in d:
        raise UserError(f"{path}: damaged checkpoint: field '{at}{key}' is missing")
    value = d[key]
    if not isinstance(value, typ) or typ is int and isinstance(value, bool):
        raise UserError(f"{path}: damaged checkpoint: field '{at}{key}' is {type(value).__name__} "
                        f"{_short(value)}, expected {_TYPE_NAMES[typ]}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _plain(value) -> bool:
    """Only what a config holds (and JSON can write): numbers, strings, None, lists and dicts of them."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _check_features(c: dict, path: Path, at: str = "") -> None:
    f = field_of(c, "features", dict, path, at)
    name = field_of(f, "name", str, path, f"{at}features.")
    if name not in SPECS:
        raise UserError(f"{path}: damaged checkpoint: field '{at}features.name' is '{name}', not one of "
                        f"{', '.join(sorted(SPECS))}")
    n = field_of(f, "n_features", int, path, f"{at}features.")
    if n != SPECS[name]:
        raise UserError(f"{path}: damaged checkpoint: field '{at}features.n_features' is {n}; features "
                        f"'{name}' have {SPECS[name]}")


def checkpoint_tasks(c: dict) -> list[str]:
    """The tasks a (checked) single checkpoint predicts: ss8 alone for files written before tasks existed."""
    return list(c.get("tasks", ["ss8"]))


def _check_tasks(c: dict, path: Path, at: str = "") -> None:
    if "tasks" not in c:
        return
    tasks = field_of(c, "tasks", list, path, at)
    if "ss8" not in tasks or any(t not in TASKS for t in tasks) or len(set(tasks)) != len(tasks):
        raise UserError(f"{path}: damaged checkpoint: field '{at}tasks' is {_short(tasks)}, expected ss8 and any of "
                        f"{', '.join(t for t in TASKS if t != 'ss8')}")


def _check_single(c: dict, path: Path, at: str = "") -> None:
    _check_tasks(c, path, at)
    m = field_of(c, "model", dict, path, at)
    field_of(m, "name", str, path, f"{at}model.")
    if not _plain(field_of(m, "kwargs", dict, path, f"{at}model.")):
        raise UserError(f"{path}: damaged checkpoint: field '{at}model.kwargs' holds values other than numbers, "
                        "strings and lists")
    _check_features(c, path, at)
    check_weights(field_of(c, "state_dict", dict, path, at), path, f"{at}state_dict")


def check_weights(state: dict, path: str | Path, field: str = "state_dict") -> None:
    """Every entry a tensor, every floating-point tensor finite (a diverged run saves NaN weights, which
    would predict one state everywhere); else one line naming the file and the tensor."""
    for key, value in state.items():
        if not isinstance(key, str):
            raise UserError(f"{path}: damaged checkpoint: '{field}' has the key {_short(key)}, not a tensor name")
        if not isinstance(value, torch.Tensor):
            raise UserError(f"{path}: damaged checkpoint: '{field}' entry '{key}' is {type(value).__name__}, "
                            "not a tensor")
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise UserError(f"{path}: tensor '{key}' of '{field}' has {bad} non-finite value(s) (NaN or infinity): "
                            "the weights are unusable (did training diverge?)")


def check_train_state(ckpt: dict, path: Path) -> None:
    """Every train_state field a resumed run reads, with its type; weights finite. One line naming the field."""
    ts = field_of(ckpt, "train_state", dict, path)
    check_weights(field_of(ts, "model", dict, path, "train_state."), path, "train_state.model")
    for key in ("optimizer", "numpy_rng"):
        field_of(ts, key, dict, path, "train_state.")
    if not isinstance(ts.get("torch_rng"), torch.Tensor):
        raise UserError(f"{path}: damaged checkpoint: field 'train_state.torch_rng' is missing or not a tensor")
    if ts.get("ema") is not None:
        check_weights(field_of(ts, "ema", dict, path, "train_state."), path, "train_state.ema")
    state = field_of(ts, "state", dict, path, "train_state.")
    for key in ("epoch", "step", "best_epoch", "bad_epochs"):
        if field_of(state, key, int, path, "train_state.state.") < 0:
            raise UserError(f"{path}: damaged checkpoint: field 'train_state.state.{key}' is negative")
    if state["best_epoch"] > len(field_of(state, "history", list, path, "train_state.state.")):
        raise UserError(f"{path}: damaged checkpoint: field 'train_state.state.best_epoch' is past its history")
    if not isinstance(state.get("best"), (int, float)) or isinstance(state.get("best"), bool):
        raise UserError(f"{path}: damaged checkpoint: field 'train_state.state.best' is missing or not a number")


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


