"""The text of `ss-train --help` and `ss-eval --help`: Hydra prints `hydra.help.template` (configs/train.yaml,
eval.yaml), which is `${ss_help:train}` / `${ss_help:eval}`, this module's text. The groups' options, the keys'
defaults and the trainer keys are read from the packaged configs and schema.py, so the text follows them.
`--hydra-help` stays Hydra's own."""
from __future__ import annotations

import textwrap
from pathlib import Path

from omegaconf import OmegaConf

from .rules import shown
from .schema import trainer_keys_help

TRAIN_KEYS = {  # the top-level keys of configs/train.yaml (tests/test_config.py checks that none is missing)
    "features": "onehot (21 inputs) or onehot+profile (43: with a PSSM/HHM per chain)",
    "tasks": "what the model predicts: [ss8] or ss8 with any of rsa, angles, disorder (a head each)",
    "seed": "random seed (weights, data order)",
    "name": "the run's name (default <model>_s<seed>, or the experiment's)",
    "run_dir": "the run folder (default <output_dir>/runs/<name>; never silently reused)",
    "overwrite": "true: train again into a run_dir that holds a run (its checkpoints are removed first)",
    "info": "true: print the parameter count and receptive field, then exit",
    "teacher": "distillation: [checkpoint or bundled name, ...] whose averaged probabilities are soft targets",
}
EVAL_KEYS = {  # the top-level keys of configs/eval.yaml
    "checkpoint": "required: a checkpoint path, a bundled model name (default), or [a.pt,b.pt] (averaged)",
    "device": "auto, cpu, cuda or cuda:N",
    "max_tokens": "residues per batch",
    "output": "the JSON report (default <output_dir>/eval/<checkpoint(s)>.<sets>.json, never reused)",
    "exclude": "chains to leave out: an `ss-data audit` report (its benchmark_id column) or one id a line",
    "overwrite": "true: an existing output=PATH is replaced (else refused)",
    "plots": "true: PNGs next to the JSON (confusion heatmaps, per-class F1, reliability diagram, Q3 vs length)",
    "progress": "a bar per set: auto (on a terminal), true or false",
}
PATHS = ("  paths.data_root=DIR      where the data sets are read (default $SS_DATA_ROOT, else ./data)\n"
         "  paths.output_dir=DIR     where runs, built sets and reports go (default $SS_OUTPUT_DIR, else ./outputs)")


def configs_dir() -> Path:
    import ss_predict.configs

    return Path(next(iter(ss_predict.configs.__path__)))


def options(group: str, training: bool | None = None) -> str:
    """The options of a config group, wrapped; for data= only training configs (those with a `train` entry) when
    training is true, only the others (benchmarks, the built validation split) when false."""
    names = [p.stem for p in sorted((configs_dir() / group).glob("*.yaml"))
             if training is None or ("train" in (OmegaConf.load(p) or {})) == training]
    return textwrap.fill(", ".join(names), width=116, initial_indent=" " * 16, subsequent_indent=" " * 16).lstrip()


def top_level(name: str) -> dict:
    """The keys configs/<name>.yaml sets itself, with their written (unresolved) defaults."""
    cfg = OmegaConf.load(configs_dir() / f"{name}.yaml")
    return {k: v for k, v in OmegaConf.to_container(cfg, resolve=False).items() if k not in ("defaults", "hydra")}


def _keys(name: str, docs: dict) -> str:
    rows = []
    for key, default in top_level(name).items():
        text = "" if "${" in str(default) else shown(default)  # an interpolation: its doc says the default
        rows.append(f"  {key}={text}".ljust(26) + f" {docs.get(key, '')}")
    return "\n".join(rows)


def train_help() -> str:
    return f"""ss-train: train a secondary-structure model (8-state DSSP, and 3-state from it) on labelled chains.
Options are Hydra overrides, group=option and key=value, without dashes.

Usage: ss-train [experiment=RECIPE] [trainer=PRESET] [group=option ...] [key=value ...]
       ss-train -m key=a,b ...      a sweep: one run per combination

Config groups (configs/<group>/<option>.yaml):
  experiment=   a recipe (model, data and the trainer keys it changes; default none):
                {options('experiment')}
  model=        the architecture (default cnn_bigru; model.kwargs.* its sizes):
                {options('model')}
  data=         training + validation sets (default `default`: the set `ss-data build` writes; tiny: smoke runs):
                {options('data', training=True)}
  trainer=      a preset of trainer keys (default: none, the defaults below):
                {options('trainer')}
Precedence: the trainer defaults below < experiment= < trainer= preset (for the keys it sets) < trainer.KEY=VALUE.
So `experiment=default_model trainer=gpu` is the default recipe with gpu.yaml's batch sizes and learning rate.

Keys:
{_keys('train', TRAIN_KEYS)}
{PATHS}

Trainer keys (trainer.KEY=VALUE; a misspelt key or an out-of-range value is refused before anything runs):
""" + "\n".join(f"  {row}" for row in trainer_keys_help()) + """

Examples:
  ss-train model=phd data=tiny trainer=tiny            a tiny model in seconds (needs the data sets)
  ss-train experiment=default_model                    the bundled model's recipe (CPU, hours)
  ss-train experiment=default_model trainer=gpu        the same recipe on one GPU
  ss-train experiment=phd trainer.max_epochs=5 seed=1
  ss-train experiment=phd trainer.resume=auto          continue an interrupted run from its last.pt
  ss-train -m model=phd,dilated_cnn seed=0,1           four runs in <output_dir>/multirun/<time>/
  ss-train experiment=dilated_cnn info=true            parameters and receptive field only
  ss-train experiment=phd trainer=gpu --cfg job        print the composed config, train nothing

A run writes <run_dir>/best.pt, last.pt, summary.json, config.yaml and tb/ (TensorBoard).
--hydra-help: Hydra's own options."""


def eval_help() -> str:
    return f"""ss-eval: score checkpoints on benchmark sets: Q3, Q8, SOV'99, per-class precision/recall/F1/MCC and
confusion matrices; prints a table and writes a JSON report. Options are Hydra overrides (key=value, no dashes).

Usage: ss-eval checkpoint=PATH|NAME [data=SET | data=[SET,SET,...]] [key=value ...]

Data sets (data=, configs/data/; default cb513; valid: the built set's validation split):
                {options('data', training=False)}

Keys:
{_keys('eval', EVAL_KEYS)}
{PATHS}

Examples:
  ss-eval checkpoint=default data=[cb513,ts115,casp12]    the bundled model on three benchmarks
  ss-eval checkpoint=outputs/runs/phd_s0/best.pt data=casp12 device=cpu
  ss-eval checkpoint=[a.pt,b.pt] data=cb513               an ensemble (averaged probabilities)
  ss-eval checkpoint=default data=cb513 exclude=audit.tsv  leave out chains with a training homologue
--hydra-help: Hydra's own options."""


def help_text(name: str) -> str:
    """The help of ss-<name>, `$` escaped for Hydra's string.Template."""
    return {"train": train_help, "eval": eval_help}[name]().replace("$", "$$")
