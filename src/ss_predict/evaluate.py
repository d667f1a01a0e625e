"""Score checkpoints on benchmark sets: Q8, Q3, per-class scores, confusion matrices, SOV'99."""
from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from .batching import EncodedSet
from .checkpoint import load_models, model_path
from .errors import UserError
from .inference import predict_sets, resolve_device, to_ss3
from .io_utils import atomic_write_text
from .metrics import score_proteins
from .train import load_split


def evaluate_sets(models: list, feature_spec: str, sets: dict[str, list], device, max_tokens: int) -> dict:
    results = {}
    for name, proteins in sets.items():
        data = EncodedSet(proteins, feature_spec)
        probs = predict_sets(models, data, device, max_tokens)
        results[name] = score_proteins(proteins, [p.argmax(-1) for p in probs],
                                       [to_ss3(p).argmax(-1) for p in probs])
    return results


def format_table(results: dict) -> str:
    head = f"{'set':<12}{'proteins':>9}{'residues':>10}{'Q3':>8}{'Q8':>8}{'SOV3':>8}   F1 H/E/C"
    rows = [head, "-" * len(head)]
    for name, r in results.items():
        f1 = "/".join(f"{r['per_class3'][s]['f1']:.2f}" for s in "HEC")
        rows.append(f"{name:<12}{r['proteins']:>9}{r['residues_scored']:>10}{r['q3']:>8.2f}{r['q8']:>8.2f}"
                    f"{r['sov3']:>8.2f}   {f1}")
    return "\n".join(rows)


def run_eval(cfg: DictConfig) -> dict:
    if not cfg.checkpoint:
        raise UserError("give checkpoint=PATH (or a list: checkpoint=[a.pt,b.pt] to average models)")
    paths = [cfg.checkpoint] if isinstance(cfg.checkpoint, str) else list(cfg.checkpoint)
    device = resolve_device(cfg.device)
    models, ckpt = load_models(paths, device)
    paths = [model_path(p) for p in paths]
    sets = {}
    for name, spec in cfg.data.items():
        if not isinstance(spec, DictConfig) or "path" not in spec:
            raise UserError(f"data '{name}' is not a benchmark set (use e.g. data=cb513 or data=[cb513,ts115])")
        sets[name] = load_split(spec)
    results = evaluate_sets(models, ckpt["features"]["name"], sets, device, int(cfg.max_tokens))
    report = {"checkpoints": [str(p) for p in paths], "model": ckpt["model"], "features": ckpt["features"]["name"],
              "device": str(device), "results": results}
    out = cfg.output or Path(cfg.paths.output_dir) / "eval" / f"{Path(paths[0]).stem}.json"
    atomic_write_text(out, json.dumps(report, indent=1) + "\n")
    print(format_table(results))
    print(f"[ss-eval] wrote {out}")
    return report
