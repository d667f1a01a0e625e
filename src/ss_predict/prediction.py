"""Prediction: load model(s), batch by length, write outputs (whole files or nothing)."""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from tqdm import tqdm

from .batching import EncodedSet
from .calibration import temperature3
from .checkpoint import load_models
from .errors import UserError
from .features import uses_profile
from .inference import predict_sets, to_ss3
from .io_utils import STDIO, atomic_write_text, check_writable, write_stdout
from .outputs import EXTENSIONS, Prediction, render
from .records import Protein


def load_predictor(spec: str, device: torch.device) -> tuple[list[torch.nn.Module], dict]:
    """`spec`: one model name/path, or several joined by commas (their probabilities are averaged)."""
    return load_models([s.strip() for s in spec.split(",") if s.strip()], device)


def predict_proteins(proteins: list[Protein], models: list, feature_spec: str, device: torch.device,
                     max_tokens: int = 32768, progress: bool = False, shard=None) -> list[Prediction]:
    """Predictions in input order; with `shard` (torchrun) each rank runs its share of the batches."""
    data = EncodedSet(proteins, feature_spec)
    total = int(data.lengths.sum())
    with tqdm(total=total, unit="res", disable=not progress, file=sys.stderr) as bar:
        probs = predict_sets(models, data, device, max_tokens, progress=bar, shard=shard)
    t3 = temperature3(models)  # calibration.py
    return [Prediction(p.id, p.sequence, pr, to_ss3(pr, t3)) for p, pr in zip(proteins, probs)]


def safe_name(rid: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in rid)


def is_folder_output(out: str) -> bool:
    return out.endswith(("/", "\\")) or Path(out).is_dir()


def check_output(out: str | None) -> None:
    """Fail before predicting if the output cannot be written (see io_utils.check_writable)."""
    if out in (None, STDIO):
        return
    check_writable(Path(out) / "record" if is_folder_output(out) else out)


def write_predictions(preds: list[Prediction], fmt: str, out: str | None) -> list[Path]:
    """To stdout (out None or '-'), one file, or one file per record in a folder (out ends with '/' or is a dir).

    Files are replaced whole (symbolic links: their target); devices and FIFOs are written through."""
    if fmt in ("svg", "png"):  # pictures: binary PNG, SVG records stacked in one file
        from .pictures import write_pictures
        return write_pictures(preds, fmt, out)
    if out in (None, STDIO):
        write_stdout(render(preds, fmt))
        return []
    path = Path(out)
    if is_folder_output(out):
        names = [safe_name(p.id) for p in preds]
        if len(set(names)) != len(names):
            raise UserError("two record ids map to the same file name; write to a single file instead")
        written = []
        for p, n in zip(preds, names):
            f = path / f"{n}.{EXTENSIONS[fmt]}"
            atomic_write_text(f, render([p], fmt))
            written.append(f)
        return written
    atomic_write_text(path, render(preds, fmt))
    return [path]


def check_profiles(proteins: list[Protein], feature_spec: str, profiles: str | None) -> None:
    from .profiles import attach_profiles
    if uses_profile(feature_spec):
        if not profiles:
            raise UserError("this model needs profiles: give --profiles DIR with ID.pssm or ID.hhm per record")
        attach_profiles(proteins, profiles)
    elif profiles:
        print("[ss-predict] warning: the model is sequence-only; --profiles is ignored", file=sys.stderr)
