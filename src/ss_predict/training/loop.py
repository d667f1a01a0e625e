"""Training as a plain function of a config: `train(cfg)` (what `ss-train` calls)."""
from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from ..inference import distributed
from ..data.batching import EncodedSet, epoch_loader
from ..checkpoint.format import check_weights, field_of, load_checkpoint, model_mismatch, save_checkpoint
from ..checkpoint.loading import model_path
from ..config.compose import check_data_paths
from ..errors import UserError
from ..data.features import spec_dict
from ..inference.calibration import to_ss3
from ..inference.engine import autocast, predict_sets, resolve_device
from ..core.files import atomic_write_text
from .losses import distill_loss, ss_loss
from ..evaluation.metrics import score_proteins
from ..models import create_model
from .runs import check_name, check_run_dir, prepare_run_dir
from ..config.schema import TrainerConfig, check_trainer
from ..data.splits import load_split, manifest_hash


def evaluate_model(model, data: EncodedSet, device, max_tokens: int, shard=None) -> dict:
    """Loss, Q3, Q8 of a model on a labelled set (batches sharded over ranks when `shard` is given)."""
    model.eval()
    probs = predict_sets([model], data, device, max_tokens, shard=shard)
    pred8 = [p.argmax(-1) for p in probs]
    pred3 = [to_ss3(p).argmax(-1) for p in probs]
    scores = score_proteins(data.proteins, pred8, pred3)
    nll, n = 0.0, 0
    for p, pr in zip(data.proteins, probs):
        lab8 = p.ss8 if p.ss8 is not None else np.full(len(p), -1)
        ok = lab8 >= 0
        nll -= float(np.log(np.clip(pr[ok, lab8[ok]], 1e-9, 1)).sum())
        n += int(ok.sum())
    return {"loss": nll / max(n, 1), "q3": scores["q3"], "q8": scores["q8"], "sov3": scores["sov3"]}


def lr_at(step: int, total: int, warmup: int, base: float, schedule: str) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    if schedule == "constant":
        return base
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


class EMA:
    """Exponential moving average of the weights (evaluated and saved when decay > 0).

    The decay warms up as min(decay, (1 + step) / (10 + step)), so early averages do not keep the
    random initial weights for thousands of steps.
    """

    def __init__(self, model, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model, step: int):
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach().float(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def swap_into(self, model) -> dict:
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        return saved


def shard_plan(plan: list, rank: int, world: int) -> tuple[list, list[bool]]:
    """Every world-th chain of each global batch for this rank; a stand-in where none is left."""
    out, empty = [], []
    for idx, crops in plan:
        mine, my_crops = idx[rank::world], crops[rank::world]
        empty.append(not mine)
        out.append((mine, my_crops) if mine else (idx[:1], [(crops[0][0], crops[0][0] + 1)]))
    return out, empty


def _resume_checkpoint(resume: str | None, run_dir: Path, features: dict, model_cfg: dict) -> dict | None:
    """The checkpoint to resume from (None to start fresh); refuses one of another model or feature spec."""
    if not resume:
        return None
    path = _resume_path(resume, run_dir)
    if resume == "auto" and not path.exists():
        return None
    ckpt = load_checkpoint(path)
    way_out = "give another name=, or trainer.resume=null overwrite=true to start over"
    differs = model_mismatch(ckpt, model_cfg)
    if differs:
        raise UserError(f"{path}: cannot resume: the checkpoint was made with {differs}; {way_out}")
    if ckpt["features"] != features:
        raise UserError(f"{path}: cannot resume: the checkpoint was made with features '{ckpt['features']['name']}' "
                        f"and this run asks for '{features['name']}'; {way_out}")
    if ckpt.get("train_state") is None:
        raise UserError(f"{path}: has no training state to resume from (a best.pt, or a classical model's "
                        f"one-shot fit); {way_out}")
    _check_train_state(ckpt, path)
    return ckpt


def _resume_path(resume: str, run_dir: Path) -> Path:
    return run_dir / "last.pt" if resume == "auto" else Path(resume)


def _check_train_state(ckpt: dict, path: Path) -> None:
    """Every train_state field restore() reads, with its type; weights finite. One line naming the field."""
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


def fit_classical(cfg, t: TrainerConfig, model, model_cfg, features, train_set, valid_set, run_dir: Path) -> dict:
    """scikit-learn window classifiers: one fit on sampled windows of the 8-state-labelled chains."""
    from ..models.classical import residue_windows

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
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("best.pt", "last.pt"):
        save_checkpoint(run_dir / name, model=model, model_cfg=model_cfg, features=features,
                        config=OmegaConf.to_container(cfg, resolve=True), metrics=metrics, epoch=1,
                        manifest_sha256=manifest_hash(cfg.data.train))
    atomic_write_text(run_dir / "summary.json", json.dumps({"best": metrics, "history": [metrics],
                                                            "parameters": model.n_parameters()}, indent=1))
    print(f"[ss-train] {model_cfg['name']}: fitted on {len(keep):,} windows in {fit_s:.1f} s; valid Q3 "
          f"{metrics['q3']:.2f} Q8 {metrics['q8']:.2f}", flush=True)
    return metrics


@dataclass
class Run:
    """What one training invocation holds; the pieces below read it and update `state`."""

    cfg: DictConfig
    t: TrainerConfig  # cfg.trainer, typed and checked (schema.py)
    dinfo: distributed.DistInfo
    device: torch.device
    features: dict
    model_cfg: dict
    model: torch.nn.Module
    net: torch.nn.Module  # the model, or its DDP wrapper under torchrun
    opt: torch.optim.Optimizer
    ema: EMA | None
    rng: np.random.Generator
    train_set: EncodedSet
    valid_set: EncodedSet
    steps_per_epoch: int
    state: dict = field(default_factory=lambda: {"epoch": 0, "step": 0, "best": -1.0, "best_epoch": 0,
                                                 "bad_epochs": 0, "history": []})
    writer: object = None  # TensorBoard SummaryWriter (rank 0, trainer.tensorboard)
    interrupted: bool = False  # Ctrl-C seen (see remember_ctrl_c)

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.run_dir)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.t.max_epochs


def setup_device(t: TrainerConfig) -> tuple[distributed.DistInfo, torch.device]:
    """Join torchrun's process group (if any) and pick this rank's device."""
    dinfo, device = distributed.setup(t.device)
    if not dinfo.enabled:
        device = resolve_device(t.device)
    return dinfo, device


def load_data(cfg: DictConfig) -> tuple[EncodedSet, EncodedSet]:
    """The encoded training and validation sets of cfg.data."""
    if "train" not in cfg.data or "valid" not in cfg.data:
        raise UserError("the data config needs 'train' and 'valid' entries (e.g. data=default)")
    train_set = EncodedSet(load_split(cfg.data.train), cfg.features)
    valid_set = EncodedSet(load_split(cfg.data.valid), cfg.features)
    if not train_set.proteins or not valid_set.proteins:
        raise UserError(f"empty training ({len(train_set.proteins)}) or validation ({len(valid_set.proteins)}) set")
    return train_set, valid_set


def check_teachers(cfg: DictConfig) -> list[str]:
    """The distillation teachers (none when `teacher` is null), each checked to be a readable checkpoint
    before any data is read or a run folder is made."""
    teacher = cfg.get("teacher")
    if teacher is None:
        return []
    teachers = [str(x) for x in teacher] if OmegaConf.is_list(teacher) else [str(teacher)]
    if not teachers:
        raise UserError("teacher=[] names no checkpoint: give one or more (teacher=[a.pt,b.pt]) or leave it unset")
    for name in teachers:
        load_checkpoint(model_path(name))
    return teachers


def attach_teachers(cfg: DictConfig, t: TrainerConfig, teachers: list[str], train_set: EncodedSet, device,
                    dinfo) -> None:
    """Distillation: every training chain gets the teachers' averaged 8-state probabilities (cached)."""
    from .distill import teacher_probabilities

    cache = Path(cfg.paths.output_dir) / "cache"

    def compute():
        return teacher_probabilities(teachers, train_set.proteins, device, t.eval_max_tokens,
                                     cache, log=print if dinfo.main else (lambda *a, **k: None))

    if dinfo.main:  # rank 0 predicts and writes the cache; the other ranks then read it
        train_set.soft = compute()
    distributed.barrier()
    if not dinfo.main:
        train_set.soft = compute()


def make_run(cfg: DictConfig, t: TrainerConfig, dinfo, device, features: dict, model_cfg: dict, model, train_set,
             valid_set) -> Run:
    """Optimizer, EMA, data-order generator and step count for a neural model."""
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    steps_per_epoch = len(train_set.plan_epoch(t.max_tokens, t.crop, np.random.default_rng(0)))
    ema = EMA(model, t.ema_decay) if t.ema_decay > 0 else None
    return Run(cfg=cfg, t=t, dinfo=dinfo, device=device, features=features, model_cfg=model_cfg, model=model, net=model,
               opt=opt, ema=ema, rng=rng, train_set=train_set, valid_set=valid_set, steps_per_epoch=steps_per_epoch)


def restore(run: Run, ckpt: dict, source: str | Path = "checkpoint") -> None:
    """Continue from a last.pt (checked by _check_train_state): weights, optimizer, random generators, EMA
    and the epoch/step state. A field that does not fit this run is one line naming `source` and the field.

    The saved state is global, so resuming works with any number of ranks.
    """
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


def open_run_dir(run: Run) -> None:
    """Rank 0: create the run folder, write the resolved config.yaml, open TensorBoard."""
    if not run.dinfo.main:
        return
    run.run_dir.mkdir(parents=True, exist_ok=True)
    if run.t.tensorboard:
        from torch.utils.tensorboard import SummaryWriter
        run.writer = SummaryWriter(str(run.run_dir / "tb"))
    OmegaConf.save(run.cfg, run.run_dir / "config.yaml", resolve=True)


def save(run: Run, name: str, metrics: dict, weights: dict | None = None, with_state: bool = False) -> None:
    """Rank 0 writes run_dir/name: the weights (EMA ones when given), with the training state for last.pt."""
    if not run.dinfo.main:
        return
    ts = None
    if with_state:
        ts = {"model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
              "numpy_rng": run.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
              "ema": run.ema.shadow if run.ema else None, "state": run.state}
    save_checkpoint(run.run_dir / name, model=run.model, model_cfg=run.model_cfg, features=run.features,
                    config=OmegaConf.to_container(run.cfg, resolve=True), metrics=metrics, epoch=run.state["epoch"],
                    manifest_sha256=manifest_hash(run.cfg.data.train), train_state=ts, state_dict=weights)


def batch_loss(run: Run, b) -> tuple[torch.Tensor, torch.Tensor, float | None]:
    """Forward one batch (already on the device): the loss to back-propagate, this rank's number of scored
    residues (a 0-d tensor), and under torchrun the global number (None in one process)."""
    t = run.t
    with autocast(run.device, t.precision != "fp32"):
        if getattr(run.model, "teacher_forcing", False):
            logits = run.net(b.x, b.mask, y8=b.y8)
        else:
            logits = run.net(b.x, b.mask)
    loss, n = ss_loss(logits, b.y8, b.y3, t.label_smoothing, t.loss3_weight)
    if b.soft is not None:  # distillation: mix the labels' loss with the teachers' soft targets
        w = t.distill_weight
        loss = (1 - w) * loss + w * distill_loss(logits, b.soft, b.mask, t.distill_temperature)
    n_global = None
    if run.dinfo.enabled:  # mean over the global batch's residues (DDP averages gradients)
        n_global = distributed.all_sum([float(n)], run.device)[0]
        loss = loss * (n * run.dinfo.world / max(n_global, 1.0))
    return loss, n, n_global


def optimizer_step(run: Run, loss: torch.Tensor) -> None:
    """Backward, clip, step, EMA update; counts the step."""
    t = run.t
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    if t.grad_clip:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), t.grad_clip)
    run.opt.step()
    if run.ema is not None:
        run.ema.update(run.model, run.state["step"])
    run.state["step"] += 1


def train_epoch(run: Run) -> dict:
    """One pass over a freshly planned epoch; returns train_loss, residues_per_s, lr, epoch_seconds."""
    t, dinfo, device, state = run.t, run.dinfo, run.device, run.state
    run.net.train()
    t0, seen, loss_sum, loss_n, lr = time.perf_counter(), 0, 0.0, 0, float("nan")
    bar = tqdm(total=run.steps_per_epoch, desc=f"epoch {state['epoch'] + 1}/{t.max_epochs}",
               disable=not (t.progress and dinfo.main), leave=False)
    plan = run.train_set.plan_epoch(t.max_tokens, t.crop, run.rng)
    empty = [False] * len(plan)
    if dinfo.enabled:  # this rank's share of every global batch
        plan, empty = shard_plan(plan, dinfo.rank, dinfo.world)
    workers = t.num_workers if device.type == "cuda" else 0
    for batch, no_share in zip(epoch_loader(run.train_set, plan, workers, pin=device.type == "cuda"), empty):
        if no_share:  # fewer chains than ranks: a 1-residue stand-in that scores nothing
            batch.y8.fill_(-1)
            batch.y3.fill_(-1)
        lr = lr_at(state["step"], run.total_steps, t.warmup_steps, t.lr, t.schedule)
        for g in run.opt.param_groups:
            g["lr"] = lr
        loss, n, n_global = batch_loss(run, batch.to(device, non_blocking=True))
        optimizer_step(run, loss)
        if run.interrupted:  # a Ctrl-C that was swallowed on its way
            raise KeyboardInterrupt
        seen += sum(batch.lengths)
        if state["step"] % t.log_every == 0 or bar.n == 0:  # one sync per log step
            n_here = n_global / dinfo.world if dinfo.enabled else int(n)
            loss_sum, loss_n = loss_sum + loss.item() * n_here, loss_n + n_here
        bar.update(1)
        bar.set_postfix(loss=f"{loss_sum / max(loss_n, 1):.3f}",
                        res_s=f"{seen / (time.perf_counter() - t0):,.0f}", refresh=False)
    bar.close()
    elapsed = time.perf_counter() - t0
    loss_sum, loss_n, seen = distributed.all_sum([loss_sum, loss_n, float(seen)], device)
    return {"train_loss": loss_sum / max(loss_n, 1), "residues_per_s": seen / elapsed, "lr": lr,
            "epoch_seconds": elapsed}


def validate(run: Run) -> tuple[dict, dict | None]:
    """Validation metrics (of the EMA weights when trainer.ema_decay > 0), and those weights to save."""
    max_tokens = run.t.eval_max_tokens
    if run.ema is None:
        return evaluate_model(run.model, run.valid_set, run.device, max_tokens, run.dinfo), None
    live = run.ema.swap_into(run.model)
    metrics = evaluate_model(run.model, run.valid_set, run.device, max_tokens, run.dinfo)
    weights = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    run.model.load_state_dict(live)
    return metrics, weights


@contextlib.contextmanager
def remember_ctrl_c(run: Run):
    """Ctrl-C raises KeyboardInterrupt as usual and is also remembered, so that one landing where Python
    swallows exceptions (a generator's or an object's clean-up) still stops training at the next batch. Where
    SIGINT is ignored (a background job, nohup) it stays ignored."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        yield
        return

    def on_sigint(signum, frame):
        run.interrupted = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def end_epoch(run: Run, epoch_stats: dict) -> tuple[dict, bool]:
    """Validate, record the epoch, save best.pt (when validation Q3 improved) and last.pt."""
    state = run.state
    bad = next((k for k, v in run.model.state_dict().items()
                if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if bad is not None:  # a diverged run: saving it would make a best.pt that predicts one state everywhere
        raise UserError(f"training diverged in epoch {state['epoch'] + 1} "
                        f"(train loss {epoch_stats['train_loss']:.4g}): weight '{bad}' is NaN or infinite, so nothing "
                        f"of this epoch is saved; lower trainer.lr (now {run.t.lr:g}) and train again (overwrite=true) "
                        "or resume the last good last.pt")
    state["epoch"] += 1
    metrics, weights = validate(run)
    metrics.update({"epoch": state["epoch"], **epoch_stats})
    state["history"].append(metrics)
    improved = metrics["q3"] > state["best"]
    if improved:
        state.update(best=metrics["q3"], best_epoch=state["epoch"], bad_epochs=0)
        save(run, "best.pt", metrics, weights)
    else:
        state["bad_epochs"] += 1
    save(run, "last.pt", metrics, weights, with_state=True)
    return metrics, improved


def log_epoch(run: Run, metrics: dict, improved: bool) -> None:
    """TensorBoard scalars and one line on stdout (rank 0)."""
    epoch, w = run.state["epoch"], run.writer
    if w:
        w.add_scalar("train/loss", metrics["train_loss"], epoch)
        for k in ("loss", "q3", "q8", "sov3"):
            w.add_scalar(f"valid/{k}", metrics[k], epoch)
        w.add_scalar("lr", metrics["lr"], epoch)
        w.add_scalar("train/residues_per_s", metrics["residues_per_s"], epoch)
        w.flush()
    if run.dinfo.main:
        print(f"[ss-train] epoch {epoch}: train loss {metrics['train_loss']:.4f}  valid loss "
              f"{metrics['loss']:.4f} Q3 {metrics['q3']:.2f} Q8 {metrics['q8']:.2f}  "
              f"{metrics['residues_per_s']:,.0f} res/s{'  *best' if improved else ''}", flush=True)


def stop_reason(run: Run, started: float) -> str | None:
    """Why to stop after this epoch (early stopping, trainer.max_minutes), or None to go on."""
    t = run.t
    if t.patience and run.state["bad_epochs"] >= t.patience:
        return f"early stop: no better validation Q3 for {t.patience} epochs"
    if t.max_minutes is not None:
        minutes = (time.monotonic() - started) / 60
        # every rank must agree (clocks differ slightly): rank 0's clock decides
        over = distributed.all_sum([float(minutes >= t.max_minutes) if run.dinfo.main else 0.0],
                                   run.device)[0]
        if over:
            return (f"time budget: {minutes:.1f} min >= trainer.max_minutes={t.max_minutes} after epoch "
                    f"{run.state['epoch']} (resume with trainer.resume=auto)")
    return None


def write_summary(run: Run) -> dict:
    """Rank 0 writes summary.json (best epoch and the history); returns the best epoch's metrics."""
    state = run.state
    best = state["history"][state["best_epoch"] - 1] if state["best_epoch"] else {}
    if run.dinfo.main:
        atomic_write_text(run.run_dir / "summary.json", json.dumps(
            {"best": best, "history": state["history"], "parameters": run.model.n_parameters()}, indent=1))
    return best


def train(cfg: DictConfig) -> dict:
    """Train the model that cfg describes; returns the best validation metrics.

    Under torchrun every rank runs this function: each step's length-bucketed global batch (planned
    identically on all ranks from the shared seed) is split between ranks, the loss is normalised by
    the global number of scored residues, so N ranks follow the single-process run; validation
    batches are sharded and gathered; only rank 0 logs and writes checkpoints.
    """
    started = time.monotonic()
    t = check_trainer(cfg.trainer)  # one line for a bad value, before anything is read or made
    check_name(cfg.name)
    dinfo, device = setup_device(t)
    torch.manual_seed(cfg.seed)
    if t.threads:
        torch.set_num_threads(t.threads)
    features = spec_dict(cfg.features)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    check_data_paths(cfg, cfg.data)
    teachers = check_teachers(cfg)
    check_run_dir(Path(cfg.run_dir), t.resume, cfg.overwrite)
    resumed = _resume_checkpoint(t.resume, Path(cfg.run_dir), features, model_cfg)
    train_set, valid_set = load_data(cfg)
    prepare_run_dir(Path(cfg.run_dir), t.resume, cfg.overwrite, dinfo.main)
    if teachers:
        attach_teachers(cfg, t, teachers, train_set, device, dinfo)
    model = create_model(model_cfg["name"], features["n_features"], **(model_cfg.get("kwargs") or {})).to(device)
    if getattr(model, "classical", False):
        if dinfo.enabled:
            raise UserError(f"model '{model_cfg['name']}' is fitted by scikit-learn in one process; run it without torchrun")
        return fit_classical(cfg, t, model, model_cfg, features, train_set, valid_set, Path(cfg.run_dir))
    run = make_run(cfg, t, dinfo, device, features, model_cfg, model, train_set, valid_set)
    if resumed is not None:
        restore(run, resumed, _resume_path(t.resume, Path(cfg.run_dir)))
    if dinfo.enabled:
        run.net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    open_run_dir(run)
    if dinfo.main:
        print(f"[ss-train] {model_cfg['name']}: {model.n_parameters():,} parameters, receptive field "
              f"{model.receptive_field() or 'whole chain'}; train {len(train_set.proteins)} chains "
              f"({int(train_set.lengths.sum()):,} residues), valid {len(valid_set.proteins)}; device {device}"
              + (f" x {dinfo.world} ranks" if dinfo.enabled else ""), flush=True)
    stop_at = t.max_epochs
    if t.run_epochs:
        stop_at = min(stop_at, run.state["epoch"] + t.run_epochs)
    try:
        with remember_ctrl_c(run):
            while run.state["epoch"] < stop_at:
                if run.interrupted:
                    raise KeyboardInterrupt
                metrics, improved = end_epoch(run, train_epoch(run))
                log_epoch(run, metrics, improved)
                distributed.barrier()
                reason = stop_reason(run, started)
                if reason:
                    if dinfo.main:
                        print(f"[ss-train] {reason}", flush=True)
                    break
    except KeyboardInterrupt:
        save(run, "last.pt", {"interrupted": True}, with_state=True)
        if dinfo.main:
            print(f"\n[ss-train] interrupted: saved {run.run_dir / 'last.pt'} (resume with trainer.resume=auto)")
        raise
    finally:
        if run.writer:
            run.writer.close()
    return write_summary(run)
