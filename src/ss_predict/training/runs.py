"""Run folders of ss-train: one per run, never silently reused, and checked writable before training starts.

A folder that already holds a checkpoint (best.pt or last.pt) is a finished or interrupted run: training
there again needs `trainer.resume=auto` (continue from its last.pt) or `overwrite=true` (start over: its
checkpoints, summary, config and TensorBoard logs are removed first).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..core.files import check_writable_folder
from ..errors import UserError

RUN_FILES = ("best.pt", "last.pt", "summary.json", "config.yaml")  # and the TensorBoard folder tb/


def check_name(name) -> None:
    """A run name becomes a folder under <output_dir>/runs/: it must name one there (not '', not an absolute
    path, no '..' that would put the run, or remove one with overwrite=true, outside the runs folder, not '.',
    which is the runs folder itself)."""
    text = str(name) if name is not None else ""
    parts = Path(text).parts
    if not text.strip() or text.startswith(("/", "\\")) or ".." in parts or not parts:
        raise UserError(f"name={text!r}: give a run name such as name=my_run (a folder under <output_dir>/runs/; "
                        "not empty, not '.', not absolute, no '..')")


def run_folder(run_dir) -> Path:
    """The folder `run_dir` names, as the system will find it once made: symbolic links followed and '..' applied
    (`/x/new/../old` is /x/old, not a new folder), so that the check of what it holds looks where the run writes."""
    return Path(os.path.realpath(str(run_dir)))


def check_run_dir(run_dir: Path, resume: str | None, overwrite: bool) -> None:
    """Refuse to train into a folder holding another run's checkpoints unless resuming it or overwriting."""
    taken = [n for n in ("best.pt", "last.pt") if (run_dir / n).exists()]
    if not taken:
        return
    own_last = resume == "auto" or (resume and Path(resume).resolve() == (run_dir / "last.pt").resolve())
    if own_last and not (run_dir / "last.pt").exists():
        raise UserError(f"{run_dir} has {' and '.join(taken)} but no last.pt to resume from: "
                        "add overwrite=true to start it over, or give another name=")
    if not own_last and not overwrite:
        raise UserError(f"{run_dir} already holds a run ({' and '.join(taken)}): add trainer.resume=auto to "
                        "continue it, overwrite=true to replace it, or give another name=")


def prepare_run_dir(run_dir: Path, resume: str | None, overwrite: bool, main: bool = True) -> None:
    """Check the folder (every rank), then on rank 0 clear it for `overwrite=true` and check it is writable."""
    check_run_dir(run_dir, resume, overwrite)
    if not main:
        return
    if overwrite and not resume:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "tb", ignore_errors=True)
    check_writable_folder(run_dir, "run folder")
    print(f"[ss-train] run folder: {run_dir}", flush=True)
