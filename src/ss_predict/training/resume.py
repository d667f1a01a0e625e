"""Continuing a run from its last.pt: the training state it holds (`train_state`), the checks before any data
is read (`resume_checkpoint`), and putting it back into a new run (`restore`). The saved state is global, so
resuming works with any number of ranks."""
from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint.format import check_train_state, checkpoint_tasks, load_checkpoint, model_mismatch
from ..errors import UserError


def resume_path(resume: str, run_dir: Path) -> Path:
    return run_dir / "last.pt" if resume == "auto" else Path(resume)


def resume_checkpoint(resume: str | None, run_dir: Path, features: dict, model_cfg: dict,
                      tasks=("ss8",)) -> dict | None:
    """The checkpoint to resume from (None to start fresh); refuses one of another model or feature spec."""
    if not resume:
        return None
    path = resume_path(resume, run_dir)
    if resume == "auto" and not path.exists():
        return None
    ckpt = load_checkpoint(path)
    way_out = "give another name=, or trainer.resume=null overwrite=true to start over"
    differs = model_mismatch(ckpt, model_cfg)
    if differs:
        raise UserError(f"{path}: cannot resume: the checkpoint was made with {differs}; {way_out}")
    if tuple(checkpoint_tasks(ckpt)) != tuple(tasks):
        raise UserError(f"{path}: cannot resume: the checkpoint predicts tasks {checkpoint_tasks(ckpt)} and this run "
                        f"asks for {list(tasks)}; {way_out}")
    if ckpt["features"] != features:
        raise UserError(f"{path}: cannot resume: the checkpoint was made with features '{ckpt['features']['name']}' "
                        f"and this run asks for '{features['name']}'; {way_out}")
    if ckpt.get("train_state") is None:
        raise UserError(f"{path}: has no training state to resume from (a best.pt, or a classical model's "
                        f"one-shot fit); {way_out}")
    check_train_state(ckpt, path)
    return ckpt


def train_state(run) -> dict:
    """What last.pt holds to continue the loop.Run `run`: weights, optimizer, random generators, EMA, state."""
    return {"model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
            "numpy_rng": run.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "ema": run.ema.shadow if run.ema else None, "state": run.state}


def restore(run, ckpt: dict, source: str | Path = "checkpoint") -> None:
    """Put the train_state of `ckpt` (checked by resume_checkpoint) into the loop.Run `run`. A field that does
    not fit this run is one line naming `source` and the field."""
    ts = ckpt["train_state"]

    def put(key: str, load) -> None:
        try:
            load(ts[key])
        except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as e:
            raise UserError(f"{source}: cannot resume: field 'train_state.{key}' does not fit this run "
                            f"({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})") from None

    put("model", run.model.load_state_dict)
    put("optimizer", run.opt.load_state_dict)
    put("numpy_rng", lambda v: setattr(run.rng.bit_generator, "state", v))
    put("torch_rng", torch.set_rng_state)
    if run.ema is not None and ts.get("ema") is not None:
        run.ema.shadow = ts["ema"]
    run.state = ts["state"]
