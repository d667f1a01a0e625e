"""What a run records, for the loop and the classical fit alike: a model's validation metrics
(`evaluate_model`), its checkpoints (`save_run_checkpoint`) and summary.json (`write_summary`)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ..checkpoint.format import save_checkpoint
from ..core.files import atomic_write_text
from ..data.batching import EncodedSet
from ..data.features import spec_dict
from ..data.splits import manifest_hash
from ..evaluation.metrics import score_proteins, task_metrics
from ..inference.calibration import to_ss3
from ..inference.engine import predict_sets, task_values


def evaluate_model(model, data: EncodedSet, device, max_tokens: int, shard=None) -> dict:
    """Loss, Q3, Q8 of a model on a labelled set (batches sharded over ranks when `shard` is given); for a model
    with more tasks, their scores too (metrics.task_metrics: logged, never selected on)."""
    model.eval()
    tasks = tuple(getattr(model, "tasks", ("ss8",)))
    values = predict_sets([model], data, device, max_tokens, shard=shard, tasks=tasks != ("ss8",))
    probs = [v[:, :8] for v in values]
    pred8 = [p.argmax(-1) for p in probs]
    pred3 = [to_ss3(p).argmax(-1) for p in probs]
    scores = score_proteins(data.proteins, pred8, pred3)
    nll, n = 0.0, 0
    for p, pr in zip(data.proteins, probs):
        lab8 = p.ss8 if p.ss8 is not None else np.full(len(p), -1)
        ok = lab8 >= 0
        nll -= float(np.log(np.clip(pr[ok, lab8[ok]], 1e-9, 1)).sum())
        n += int(ok.sum())
    out = {"loss": nll / max(n, 1), "q3": scores["q3"], "q8": scores["q8"], "sov3": scores["sov3"]}
    if tasks != ("ss8",):
        more = task_metrics(data.proteins, [task_values(v, tasks) for v in values])
        out.update({k: v for k, v in more.items() if not k.endswith("residues")})
    return out


def save_run_checkpoint(path: Path, cfg: DictConfig, model, metrics: dict, epoch: int, **extra) -> None:
    """A checkpoint of `model` trained as `cfg` says: its model and features, the resolved config, the training
    data's manifest hash; `extra`: train_state, state_dict (see checkpoint.format.save_checkpoint)."""
    save_checkpoint(path, model=model, model_cfg=OmegaConf.to_container(cfg.model, resolve=True),
                    features=spec_dict(cfg.features), config=OmegaConf.to_container(cfg, resolve=True),
                    metrics=metrics, epoch=epoch, manifest_sha256=manifest_hash(cfg.data.train), **extra)


def write_summary(run_dir: Path, best: dict, history: list[dict], parameters: int) -> None:
    """summary.json: the best epoch's metrics, every epoch's, and the model's number of parameters."""
    atomic_write_text(run_dir / "summary.json", json.dumps({"best": best, "history": history,
                                                            "parameters": parameters}, indent=1))
