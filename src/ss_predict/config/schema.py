"""Typed configs (OmegaConf structured configs, registered in Hydra's ConfigStore): what each key of ss-train,
ss-eval and ss-data build holds. A misspelt key or a value of the wrong type fails composition; `check_trainer`
then checks the trainer's ranges. `TrainerConfig` is where the trainer's defaults live (configs/trainer/*.yaml
and the experiments set only what they change)."""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from omegaconf import MISSING, OmegaConf

from ..errors import UserError


def _key(default, doc: str, lo=None, hi=None, *, above: bool = False, below: bool = False, choices=None):
    """A trainer key: its default, a one-line doc (ss-train --help), the allowed range or choices.
    lo/hi are inclusive unless above/below (then the bound itself is refused)."""
    return field(default=default, metadata={"doc": doc, "lo": lo, "hi": hi, "above": above, "below": below,
                                            "choices": choices})


@dataclass
class TrainerConfig:
    max_epochs: int = _key(30, "epochs to train", 1)
    lr: float = _key(2.0e-3, "peak learning rate (AdamW)", 0, above=True)
    weight_decay: float = _key(0.05, "AdamW weight decay", 0)
    schedule: str = _key("cosine", "learning-rate schedule after the linear warm-up", choices=("cosine", "constant"))
    warmup_steps: int = _key(200, "linear warm-up steps", 0)
    max_tokens: int = _key(16384, "residues per training batch (longest chain x batch size)", 1)
    crop: int = _key(512, "training chains longer than this are cut to a random window", 1)
    grad_clip: float = _key(1.0, "gradient-norm clip (0 = off)", 0)
    label_smoothing: float = _key(0.0, "label smoothing of the 8-state loss", 0, 1, below=True)
    loss3_weight: float = _key(1.0, "weight of the 3-state marginal loss of 3-state-only chains", 0)
    ema_decay: float = _key(0.0, "> 0: validate and save an exponential moving average of the weights", 0, 1,
                            below=True)
    patience: int = _key(6, "early stopping after this many epochs without a better validation Q3 (0 = off)", 0)
    eval_max_tokens: int = _key(65536, "residues per validation batch", 1)
    device: str = _key("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: str = _key("auto", "auto = bf16 autocast on CUDA, fp32 on CPU; fp32 forces fp32",
                          choices=("auto", "fp32"))
    threads: Optional[int] = _key(None, "CPU threads (null: PyTorch's choice)", 1)
    log_every: int = _key(20, "steps between training-loss samples", 1)
    progress: bool = _key(True, "progress bar per epoch")
    tensorboard: bool = _key(True, "TensorBoard logs in <run_dir>/tb")
    resume: Optional[str] = _key(None, "auto (run_dir/last.pt) or a path to a last.pt")
    run_epochs: Optional[int] = _key(None, "stop after this many epochs in this invocation (resume later)", 1)
    max_minutes: Optional[float] = _key(None, "stop after the epoch that crosses this wall-clock budget (minutes)",
                                        0, above=True)
    num_workers: int = _key(2, "batch-building worker processes on CUDA (CPU runs build batches inline)", 0)
    devices: int = _key(1, "> 1: relaunch under torchrun with this many ranks (DDP)", 1)
    distill_weight: float = _key(0.5, "with teacher=[...]: loss = (1 - w) * labels' loss + w * soft-target loss",
                                 0, 1)
    distill_temperature: float = _key(1.0, "softmax temperature of the teachers' soft targets", 0, above=True)


DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
MAX_THREADS = 1024  # trainer.threads; as cli.MAX_THREADS (this module is too heavy for ss-predict to import)


def _problem(value, meta: dict) -> str | None:
    """Why `value` is not allowed by a key's metadata, or None."""
    lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices")
    if choices and value not in choices:
        return f"must be one of {', '.join(choices)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):  # nan passes every comparison; inf trains to NaN weights
        return "must be a finite number"
    too_low = lo is not None and (value <= lo if meta["above"] else value < lo)
    too_high = hi is not None and (value >= hi if meta["below"] else value > hi)
    if not (too_low or too_high):
        return None
    if hi is None:
        return f"must be {'>' if meta['above'] else '>='} {lo}"
    return f"must be in {'(' if meta['above'] else '['}{lo}, {hi}{')' if meta['below'] else ']'}"


def shown(value) -> str:
    """A value as it is written on the command line (null, true, 0.002)."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


TRAINER_DEFAULTS = {f.name: f.default for f in fields(TrainerConfig)}
TRAINER_KEYS = list(TRAINER_DEFAULTS)


def unknown_trainer_key(key: str) -> str:
    """One line for a trainer key that does not exist, with the nearest real one."""
    near = difflib.get_close_matches(key, TRAINER_KEYS, n=1)
    hint = f" (did you mean trainer.{near[0]}?)" if near else ""
    return f"config error: trainer.{key} is not a trainer key{hint}; `ss-train --help` lists them"


def check_trainer(node) -> TrainerConfig:
    """The trainer section as a TrainerConfig (interpolations resolved), or one line naming the first bad value."""
    for key in node.keys():
        if key not in TRAINER_KEYS:  # `+trainer.lrr=1` is added past the schema
            raise UserError(unknown_trainer_key(str(key)))
    try:
        t = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TrainerConfig), node))
    except Exception as e:  # an unknown key or a wrong type in a config built without the schema
        raise UserError(f"config error: trainer: {str(e).splitlines()[0]}") from None
    for f in fields(t):
        value = getattr(t, f.name)
        if value is None:
            continue
        why = _problem(value, f.metadata)
        if f.name == "device" and not DEVICE.fullmatch(str(value).strip().lower()):
            why = "must be auto, cpu, cuda, cuda:N or mps"
        if f.name == "threads" and not why and value > MAX_THREADS:  # torch.set_num_threads(100000) segfaults
            why = f"must be at most {MAX_THREADS}"
        if why:
            raise UserError(f"config error: trainer.{f.name}={shown(value)} {why} (default: {shown(f.default)})")
    return t


def trainer_keys_help() -> list[str]:
    """`key (type, default): doc` per trainer key, for ss-train --help."""
    rows = []
    for f in fields(TrainerConfig):
        kind = str(f.type).replace("Optional[", "").rstrip("]")
        rows.append(f"trainer.{f.name} ({kind}, default {shown(f.default)}): {f.metadata['doc']}")
    return rows


@dataclass
class TrainConfig:
    """configs/train.yaml: its values are in the YAML; the groups (paths, model, data) are not typed here."""
    paths: Any = None
    model: Any = None
    data: Any = None
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    features: str = MISSING
    teacher: Any = None
    seed: int = MISSING
    name: str = MISSING
    run_dir: str = MISSING
    overwrite: bool = MISSING
    info: bool = MISSING


@dataclass
class EvalConfig:
    """configs/eval.yaml."""
    paths: Any = None
    data: Any = None
    checkpoint: Any = None
    device: str = MISSING
    max_tokens: int = MISSING
    output: Optional[str] = None
    exclude: Optional[str] = None
    overwrite: bool = MISSING
    progress: Any = MISSING  # auto, true or false (evaluate.show_progress checks it)
    plots: bool = MISSING  # PNGs next to the result JSON (evaluate.write_plots); plots=false turns them off


@dataclass
class MmseqsConfig:
    binary: str = MISSING
    sensitivity: float = MISSING
    evalue: float = MISSING
    max_seqs: int = MISSING
    threads: int = MISSING
    mask: int = MISSING
    comp_bias_corr: int = MISSING
    kmers: Any = MISSING  # a list of prefilter k-mer sizes (homology.MMseqs.kmers)


@dataclass
class BlastConfig:
    enabled: bool = MISSING
    binary: str = MISSING
    evalue: float = MISSING
    threads: int = MISSING
    max_target_seqs: int = MISSING


@dataclass
class BuildConfig:
    """configs/build.yaml (and build_cullpdb.yaml)."""
    paths: Any = None
    sources: Any = None
    benchmarks: Any = None
    identity: float = MISSING
    min_aln_len: int = MISSING
    min_contained: int = MISSING
    min_cover: float = MISSING
    min_length: int = MISSING
    valid_fraction: float = MISSING
    seed: int = MISSING
    mmseqs: MmseqsConfig = field(default_factory=MmseqsConfig)
    blast: BlastConfig = field(default_factory=BlastConfig)
    output: str = MISSING
    manifest: str = MISSING


SCHEMAS = {"train_schema": TrainConfig, "eval_schema": EvalConfig, "build_schema": BuildConfig}


def register() -> None:
    """Put the schemas into Hydra's ConfigStore (the configs' defaults lists name them)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for name, node in SCHEMAS.items():
        cs.store(name=name, node=node)

