"""Score checkpoints on benchmark sets: Q8, Q3, per-class scores, confusion matrices, SOV'99; and, for a model
with more tasks, RSA, ASA, 2-state exposure, phi / psi and disorder where a set has those labels."""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf
from tqdm import tqdm

from ..data.batching import EncodedSet
from ..checkpoint.loading import WEIGHTS, load_models, model_path
from ..config.compose import check_data_paths
from ..config.schema import EvalConfig, check_settings
from ..errors import UserError
from ..inference.engine import calibrated, predict_sets, resolve_device, task_values
from ..data.build.audit import REPORT_HEADER
from ..core.files import atomic_write_text, check_writable_file, read_input_text, write_through_target
from .metrics import calibration, score_proteins, task_metrics
from ..data.splits import load_split


def evaluate_sets(models: list, feature_spec: str, sets: dict[str, list], device, max_tokens: int,
                  progress: bool = False, tasks=("ss8",)) -> dict:
    results = {}
    more = tuple(tasks) != ("ss8",)
    for name, proteins in sets.items():
        data = EncodedSet(proteins, feature_spec)
        with tqdm(total=int(data.lengths.sum()), desc=name, unit="res", unit_scale=True, leave=False,
                  disable=not progress) as bar:
            raw = predict_sets(models, data, device, max_tokens, progress=bar, tasks=more)
        both = [calibrated(p, models) for p in raw]
        probs, probs3 = [p8 for p8, _ in both], [p3 for _, p3 in both]
        results[name] = score_proteins(proteins, [p.argmax(-1) for p in probs], [p.argmax(-1) for p in probs3])
        results[name]["calibration"] = calibration(proteins, probs, probs3)
        if more:
            results[name]["tasks"] = task_metrics(proteins, [task_values(r, tasks) for r in raw])
        results[name]["per_chain"] = per_chain(proteins, probs3)
    return results


def per_chain(proteins, probs3) -> dict:
    """Length and Q3 (percent) of every chain with 3-state labels (for Q3 against chain length)."""
    out = {"id": [], "length": [], "q3": []}
    for p, q in zip(proteins, probs3):
        ok = p.ss3 >= 0 if p.ss3 is not None else None
        if ok is None or not ok.any():
            continue
        out["id"].append(p.id)
        out["length"].append(len(p))
        out["q3"].append(round(100 * float((q.argmax(1)[ok] == p.ss3[ok]).mean()), 3))
    return out


def format_table(results: dict) -> str:
    head = (f"{'set':<12}{'proteins':>9}{'residues':>10}{'Q3':>8}{'Q8':>8}{'SOV3':>8}{'ECE3':>8}{'ECE8':>8}"
            "   F1 H/E/C")
    rows = [head, "-" * len(head)]
    for name, r in results.items():
        f1 = "/".join(f"{r['per_class3'][s]['f1']:.2f}" for s in "HEC")
        cal = r.get("calibration") or {}
        rows.append(f"{name:<12}{r['proteins']:>9}{r['residues_scored']:>10}{r['q3']:>8.2f}{r['q8']:>8.2f}"
                    f"{r['sov3']:>8.2f}{cal.get('ece3', float('nan')):>8.4f}{cal.get('ece8', float('nan')):>8.4f}"
                    f"   {f1}")
    if any(r.get("tasks") for r in results.values()):
        rows += ["", TASK_HEAD, "-" * len(TASK_HEAD)]
        for name, r in results.items():
            t = r.get("tasks") or {}
            rows.append(f"{name:<12}" + "".join(f"{t[k]:>{w}.{d}f}" if k in t else f"{'-':>{w}}"
                                                for k, w, d in TASK_COLUMNS))
    return "\n".join(rows)


# The second table of a model with more tasks: (metric key, width, decimals); '-' where a set has no such labels.
TASK_COLUMNS = [("rsa_pcc", 9, 3), ("exposure_acc", 10, 2), ("asa_mae", 9, 1), ("phi_mae", 9, 1), ("psi_mae", 9, 1),
                ("disorder_mcc", 10, 3), ("disorder_auc", 10, 3)]
TASK_HEAD = f"{'set':<12}{'RSA PCC':>9}{'2-state':>10}{'ASA MAE':>9}{'phi MAE':>9}{'psi MAE':>9}{'dis MCC':>10}{'dis AUC':>10}"


def checkpoint_label(path: Path) -> str:
    """A bundled model by its name, any other checkpoint by its folder and stem (`runs/phd_s0/best.pt` -> phd_s0_best)."""
    if path.parent.resolve() == WEIGHTS.resolve():
        return path.stem
    return f"{path.parent.resolve().name}_{path.stem}".strip("_")


def default_output(out_dir: Path, paths: list[Path], set_names: list[str]) -> Path:
    """<out_dir>/<checkpoint(s)>.<sets>.json; an ensemble of many files gets a short hashed name, and a name
    already taken gets -2, -3, ... (results are never replaced)."""
    labels = [checkpoint_label(p) for p in paths]
    models = "+".join(labels)
    if len(paths) > 1 and len(models) > 80:
        digest = hashlib.sha1("\n".join(str(p.resolve()) for p in paths).encode()).hexdigest()[:10]
        models = f"ensemble{len(paths)}-{digest}"
    sets = "+".join(set_names)
    if len(sets) > 60:
        sets = f"{len(set_names)}sets-{hashlib.sha1(sets.encode()).hexdigest()[:8]}"
    base = re.sub(r"[^A-Za-z0-9._+=-]+", "_", f"{models}.{sets}")
    out, n = out_dir / f"{base}.json", 1
    while out.exists():
        n += 1
        out = out_dir / f"{base}-{n}.json"
    return out


def show_progress(setting) -> bool:
    if setting == "auto":
        return sys.stderr.isatty()
    if isinstance(setting, bool):
        return setting
    raise UserError(f"progress={setting!r}: use auto, true or false")


def read_exclusions(path: str | Path) -> set[str]:
    """Chain ids to leave out: the `benchmark_id` column of an `ss-data audit` report, or one id a line."""
    lines = [ln for ln in read_input_text(path).splitlines() if ln.strip() and not ln.startswith("#")]
    if lines and lines[0].startswith(REPORT_HEADER):
        return {ln.split("\t")[2] for ln in lines[1:]}
    return {ln.split()[0] for ln in lines}


def exclude_chains(sets: dict[str, list], path: str | Path) -> tuple[dict[str, list], dict[str, int]]:
    """Drop the listed chains from every set (e.g. benchmark chains with a training homologue)."""
    ids = read_exclusions(path)
    kept = {name: [p for p in proteins if p.id not in ids] for name, proteins in sets.items()}
    return kept, {name: len(sets[name]) - len(kept[name]) for name in sets}


def check_options(cfg: DictConfig) -> list[str]:
    """The checkpoint specs; checkpoint, output and exclude of the right kind and the schema's rules, else one line."""
    ckpt = cfg.checkpoint
    specs = [ckpt] if isinstance(ckpt, str) else list(ckpt) if isinstance(ckpt, ListConfig) else None
    if not ckpt or specs is None or not all(isinstance(s, str) and s.strip() for s in specs):
        shown = "" if ckpt is None else f"checkpoint={OmegaConf.to_container(ckpt) if specs else ckpt!r}: "
        raise UserError(f"{shown}give checkpoint=PATH (or a list: checkpoint=[a.pt,b.pt] to average models)")
    for key in ("output", "exclude"):
        value = cfg.get(key)
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise UserError(f"{key}={value!r}: give a file path (or leave {key} unset)")
    check_settings(cfg, EvalConfig)
    return specs


def run_eval(cfg: DictConfig) -> dict:
    specs = check_options(cfg)
    progress = show_progress(cfg.get("progress", "auto"))
    if cfg.output:  # a folder, a read-only place: one line before any set is scored, not after
        if str(cfg.output).endswith(("/", os.sep)):
            raise UserError(f"output={cfg.output}: give a file path for the JSON report, not a folder")
        check_writable_file(cfg.output)
    if cfg.output and os.path.exists(cfg.output) and not write_through_target(cfg.output) and not cfg.get("overwrite"):
        raise UserError(f"{cfg.output} exists: add overwrite=true to replace it, or leave output= unset for a "
                        "new file under <output_dir>/eval/")
    for name, spec in cfg.data.items():
        if not isinstance(spec, DictConfig) or "path" not in spec:
            raise UserError(f"data '{name}' is not a benchmark set (use e.g. data=cb513 or data=[cb513,ts115])")
    check_data_paths(cfg, cfg.data)
    device = resolve_device(cfg.device)
    loaded = load_models(specs, device)
    models, ckpt = loaded.models, loaded.checkpoint
    paths = [model_path(p) for p in specs]
    sets = {name: load_split(spec) for name, spec in cfg.data.items()}
    excluded = {}
    if cfg.get("exclude"):
        sets, excluded = exclude_chains(sets, cfg.exclude)
    results = evaluate_sets(models, loaded.features, sets, device, int(cfg.max_tokens), progress, loaded.tasks)
    report = {"checkpoints": [str(p) for p in paths], "model": ckpt["model"], "features": loaded.features,
              "tasks": list(loaded.tasks),
              "device": str(device), "results": results,
              "excluded": {"file": str(cfg.exclude), "chains": excluded} if cfg.get("exclude") else None}
    print(format_table(results), flush=True)  # shown even if the file cannot be written
    out = Path(cfg.output) if cfg.output else default_output(Path(cfg.paths.output_dir) / "eval", paths, list(sets))
    try:
        atomic_write_text(out, json.dumps(report, indent=1) + "\n")
    except (OSError, UserError) as e:  # core.files reports some write failures as UserError already
        reason = str(e) if isinstance(e, UserError) else f"cannot write {out}: {e.strerror or e}"
        raise UserError(f"{reason}; the table above is not saved: give output=PATH in a writable folder, "
                        "or set paths.output_dir (SS_OUTPUT_DIR)") from None
    print(f"[ss-eval] wrote {out}")
    if cfg.get("plots", True):
        write_plots(report, out)
    return report


def write_plots(report: dict, out: Path) -> None:
    """The PNG plots (plots.py) next to the result JSON (skipped, with one line, without matplotlib)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("[ss-eval] plots skipped: matplotlib is not installed (pip install 'ss-predict[plot]'; "
              "plots=false hides this line)", file=sys.stderr)
        return
    from .plots import plot_stem, write_plots as draw
    paths = draw(report, out)
    print(f"[ss-eval] wrote {len(paths)} plots beside it: {plot_stem(report, out)}.{{confusion,f1,reliability,q3_length}}.png")
