"""Training as a plain function of a config: `train(cfg)` (what `ss-train` calls), the one loop of a neural model:
epochs of optimizer steps, validation, best.pt / last.pt, early stopping. Resuming (`resume`), distillation
(`distill`), the lr schedule and EMA (`optim`), the classical fit (`classical`) and records (`record`) sit beside it."""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from tqdm import tqdm

from ..config.compose import check_data_paths
from ..config.schema import TrainerConfig, check_trainer
from ..core.files import atomic_write_text
from ..data.batching import EncodedSet, epoch_loader
from ..data.features import spec_dict
from ..data.splits import load_split
from ..errors import UserError
from ..inference import distributed
from ..inference.engine import autocast, resolve_device
from ..models import create_model
from ..models.registry import check_model_tasks
from ..models.base import check_tasks
from .classical import fit_classical
from .distill import attach_teachers, check_teachers
from .losses import distill_loss, ss_loss, task_losses
from .optim import EMA, lr_at
from .record import evaluate_model, save_run_checkpoint, write_summary
from .resume import restore, resume_checkpoint, resume_path, train_state
from .runs import check_name, check_run_dir, prepare_run_dir, run_folder


def shard_plan(plan: list, rank: int, world: int) -> tuple[list, list[bool]]:
    """Every world-th chain of each global batch for this rank; a stand-in where none is left."""
    out, empty = [], []
    for idx, crops in plan:
        mine, my_crops = idx[rank::world], crops[rank::world]
        empty.append(not mine)
        out.append((mine, my_crops) if mine else (idx[:1], [(crops[0][0], crops[0][0] + 1)]))
    return out, empty


@dataclass
class Run:
    """What one training invocation holds; the pieces below read it and update `state`."""

    cfg: DictConfig
    t: TrainerConfig  # cfg.trainer, typed and checked (schema.py)
    dinfo: distributed.DistInfo
    device: torch.device
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


def load_data(cfg: DictConfig) -> tuple[EncodedSet, EncodedSet]:
    """The encoded training and validation sets of cfg.data."""
    if "train" not in cfg.data or "valid" not in cfg.data:
        raise UserError("the data config needs 'train' and 'valid' entries (e.g. data=default)")
    train_set = EncodedSet(load_split(cfg.data.train), cfg.features)
    valid_set = EncodedSet(load_split(cfg.data.valid), cfg.features)
    if not train_set.proteins or not valid_set.proteins:
        raise UserError(f"empty training ({len(train_set.proteins)}) or validation ({len(valid_set.proteins)}) set")
    return train_set, valid_set


TASK_LABELS = {"rsa": ("rsa", "exposed"), "angles": ("phi", "psi"), "disorder": ("disorder",)}


def check_task_labels(tasks, proteins, spec) -> None:
    """Every task beside ss8 has labels on some training chain, else one line (its head would learn nothing)."""
    for task in tasks:
        if task != "ss8" and not any(getattr(p, k) is not None for p in proteins for k in TASK_LABELS[task]):
            raise UserError(f"tasks: the training set ({spec.get('path')}) has no {task} labels "
                            f"({' or '.join(TASK_LABELS[task])}); drop {task} from tasks or train on a set with them")


def make_run(cfg: DictConfig, t: TrainerConfig, dinfo, device, model, train_set, valid_set) -> Run:
    """Optimizer, EMA, data-order generator and step count for a neural model."""
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    steps_per_epoch = len(train_set.plan_epoch(t.max_tokens, t.crop, np.random.default_rng(0)))
    ema = EMA(model, t.ema_decay) if t.ema_decay > 0 else None
    return Run(cfg=cfg, t=t, dinfo=dinfo, device=device, model=model, net=model, opt=opt, ema=ema, rng=rng,
               train_set=train_set, valid_set=valid_set, steps_per_epoch=steps_per_epoch)


def open_run_dir(run: Run) -> None:
    """Rank 0: create the run folder, write the resolved config.yaml, open TensorBoard."""
    if not run.dinfo.main:
        return
    run.run_dir.mkdir(parents=True, exist_ok=True)
    if run.t.tensorboard:
        from torch.utils.tensorboard import SummaryWriter
        run.writer = SummaryWriter(str(run.run_dir / "tb"))
    atomic_write_text(run.run_dir / "config.yaml", OmegaConf.to_yaml(run.cfg, resolve=True))


def save(run: Run, name: str, metrics: dict, weights: dict | None = None, with_state: bool = False) -> None:
    """Rank 0 writes run_dir/name: the weights (EMA ones when given), with the training state for last.pt."""
    if run.dinfo.main:
        save_run_checkpoint(run.run_dir / name, run.cfg, run.model, metrics, run.state["epoch"],
                            train_state=train_state(run) if with_state else None, state_dict=weights)


def batch_loss(run: Run, b) -> tuple[torch.Tensor, torch.Tensor, float | None]:
    """Forward one batch (already on the device): the loss to back-propagate, this rank's number of scored
    residues (a 0-d tensor), and under torchrun the global number (None in one process)."""
    t = run.t
    forcing = {"y8": b.y8} if getattr(run.model, "teacher_forcing", False) else {}
    with autocast(run.device, t.precision != "fp32"):
        logits = run.net(b.x, b.mask, **forcing)
    parts = run.model.split(logits)
    loss, n = ss_loss(parts["ss8"], b.y8, b.y3, t.label_smoothing, t.loss3_weight)
    if b.soft is not None:  # distillation: mix the labels' loss with the teachers' soft targets
        w = t.distill_weight
        loss = (1 - w) * loss + w * distill_loss(parts["ss8"], b.soft, b.mask, t.distill_temperature)
    for task, task_loss in task_losses(parts, b.labels).items():  # the other heads (tasks=[...])
        loss = loss + getattr(t, f"{task}_weight") * task_loss
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
    # this rank's share of every global batch (all of it in one process)
    plan, empty = shard_plan(run.train_set.plan_epoch(t.max_tokens, t.crop, run.rng), dinfo.rank, dinfo.world)
    workers = t.num_workers if device.type == "cuda" else 0
    for batch, no_share in zip(epoch_loader(run.train_set, plan, workers, pin=device.type == "cuda"), empty):
        if no_share:  # fewer chains than ranks: a 1-residue stand-in that scores nothing
            batch.y8.fill_(-1)
            batch.y3.fill_(-1)
        lr = lr_at(state["step"], run.steps_per_epoch * t.max_epochs, t.warmup_steps, t.lr, t.schedule)
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
        for tag, key in (("train/loss", "train_loss"), ("valid/loss", "loss"), ("valid/q3", "q3"), ("valid/q8", "q8"),
                         ("valid/sov3", "sov3"), ("lr", "lr"), ("train/residues_per_s", "residues_per_s")):
            w.add_scalar(tag, metrics[key], epoch)
        w.flush()
    if run.dinfo.main:
        print(f"[ss-train] epoch {epoch}: train loss {metrics['train_loss']:.4f}  valid loss "
              f"{metrics['loss']:.4f} Q3 {metrics['q3']:.2f} Q8 {metrics['q8']:.2f}  "
              + "".join(f"{label} {metrics[k]:.{d}f}  " for k, label, d in TASK_LOG if k in metrics)
              + f"{metrics['residues_per_s']:,.0f} res/s{'  *best Q3: best.pt' if improved else ''}", flush=True)


TASK_LOG = [("rsa_pcc", "RSA PCC", 3), ("phi_mae", "phi MAE", 1), ("psi_mae", "psi MAE", 1),
            ("disorder_auc", "disorder AUC", 3)]


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


def summarise(run: Run) -> dict:
    """Rank 0 writes summary.json (best epoch and the history); returns the best epoch's metrics."""
    state = run.state
    best = state["history"][state["best_epoch"] - 1] if state["best_epoch"] else {}
    if run.dinfo.main:
        write_summary(run.run_dir, best, state["history"], run.model.n_parameters())
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
    with open_dict(cfg):
        cfg.run_dir = str(run_folder(cfg.run_dir))  # '..' and links applied before the folder is checked
    dinfo, device = distributed.setup(t.device)  # torchrun's process group (if any), this rank's device
    if not dinfo.enabled:
        device = resolve_device(t.device)
    torch.manual_seed(cfg.seed)
    if t.threads:
        torch.set_num_threads(t.threads)
    features = spec_dict(cfg.features)
    tasks = check_tasks(OmegaConf.to_container(cfg.tasks, resolve=True) if OmegaConf.is_config(cfg.tasks) else cfg.tasks)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    check_model_tasks(model_cfg["name"], tasks)  # before anything is read or made
    check_data_paths(cfg, cfg.data)
    teachers = check_teachers(cfg)
    check_run_dir(Path(cfg.run_dir), t.resume, cfg.overwrite)
    resumed = resume_checkpoint(t.resume, Path(cfg.run_dir), features, model_cfg, tasks)
    train_set, valid_set = load_data(cfg)
    check_task_labels(tasks, train_set.proteins, cfg.data.train)
    prepare_run_dir(Path(cfg.run_dir), t.resume, cfg.overwrite, dinfo.main)
    if teachers:
        attach_teachers(cfg, t, teachers, train_set, device, dinfo)
    model = create_model(model_cfg["name"], features["n_features"], tasks=tasks,
                         **(model_cfg.get("kwargs") or {})).to(device)
    if getattr(model, "classical", False):
        if dinfo.enabled:
            raise UserError(f"model '{model_cfg['name']}' is fitted by scikit-learn in one process; run it without torchrun")
        return fit_classical(cfg, t, model, train_set, valid_set)
    run = make_run(cfg, t, dinfo, device, model, train_set, valid_set)
    if resumed is not None:
        restore(run, resumed, resume_path(t.resume, Path(cfg.run_dir)))
    if dinfo.enabled:
        run.net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    open_run_dir(run)
    if dinfo.main:
        print(f"[ss-train] {model_cfg['name']}: {model.n_parameters():,} parameters, receptive field "
              f"{model.receptive_field() or 'whole chain'}; train {len(train_set.proteins)} chains "
              f"({int(train_set.lengths.sum()):,} residues), valid {len(valid_set.proteins)}; device {device}"
              + (f" x {dinfo.world} ranks" if dinfo.enabled else ""), flush=True)
    stop_at = min(t.max_epochs, run.state["epoch"] + t.run_epochs) if t.run_epochs else t.max_epochs
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
    return summarise(run)
