"""Typed configs (OmegaConf structured configs, registered in Hydra's ConfigStore): what each key of ss-train,
ss-eval and ss-data build holds, its default where the code owns it, and the `Rule` its values obey. A misspelt
key or a value of the wrong type fails composition; `check_settings` then checks the rules, in one message style.
`TrainerConfig` is where the trainer's defaults live (configs/trainer/*.yaml and the experiments set only what they
change); `HomologyConfig`, `MmseqsConfig` and `BlastConfig` hold the one set of homology defaults."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Optional

from omegaconf import MISSING, OmegaConf

from ..errors import UserError
from .rules import MAX_THREADS, Rule, refusal, shown


def _key(default, doc: str = "", lo=None, hi=None, **rule):
    """A typed key: its default, a one-line doc (ss-train --help), the `Rule` its values obey."""
    return field(default=default, metadata={"doc": doc, "rule": Rule(lo, hi, whole=type(default) is int, **rule)})


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
    rsa_weight: float = _key(5.0, "with tasks rsa: weight of the RSA loss (squared error) beside the 8-state loss", 0)
    angles_weight: float = _key(1.0, "with tasks angles: weight of the phi/psi loss (sin/cos squared error)", 0)
    disorder_weight: float = _key(1.0, "with tasks disorder: weight of the disorder loss (cross-entropy)", 0)
    ema_decay: float = _key(0.0, "> 0: validate and save an exponential moving average of the weights", 0, 1,
                            below=True)
    patience: int = _key(6, "early stopping after this many epochs without a better validation Q3 (0 = off)", 0)
    eval_max_tokens: int = _key(65536, "residues per validation batch", 1)
    device: str = _key("auto", "auto, cpu, cuda, cuda:N or mps", pattern=r"auto|cpu|mps|cuda(:\d+)?",
                       allowed="auto, cpu, cuda, cuda:N or mps")
    precision: str = _key("auto", "auto = bf16 autocast on CUDA, fp32 on CPU; fp32 forces fp32",
                          choices=("auto", "fp32"))
    threads: Optional[int] = _key(None, "CPU threads (null: PyTorch's choice)", 1, MAX_THREADS)
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


TRAINER_DEFAULTS = {f.name: f.default for f in fields(TrainerConfig)}
TRAINER_KEYS = list(TRAINER_DEFAULTS)


def unknown_trainer_key(key: str) -> str:
    """One line for a trainer key that does not exist, with the nearest real one."""
    near = difflib.get_close_matches(key, TRAINER_KEYS, n=1)
    hint = f" (did you mean trainer.{near[0]}?)" if near else ""
    return f"config error: trainer.{key} is not a trainer key{hint}; `ss-train --help` lists them"


def key_refusal(section: str, key: str, names: list[str]) -> str:
    """One line for `key`, which is not one of `names`, the keys of the typed `section` ("": the top level), with
    the nearest of them."""
    if section == "trainer":
        return unknown_trainer_key(key)
    def full(k): return f"{section}.{k}" if section else k
    near = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean {full(near[0])}?)" if near else ""
    return f"config error: {full(key)} is not a {section or 'top-level'} key{hint}; the keys: {', '.join(names)}"


def unknown_key(schema, key: str) -> str | None:
    """`key_refusal` for a dotted key that lies in a typed section of `schema` and is not one of its keys (`seeed`,
    `trainer.lrr`, `mmseqs.evalu`); None for a key that exists or lies in an untyped section (model., data.,
    paths.: their keys come from the YAML files)."""
    section, node = "", schema
    for part in key.split("."):
        kinds = {f.name: f.default_factory for f in fields(node)}
        if part not in kinds:
            return key_refusal(section, part, list(kinds))
        if not is_dataclass(kinds[part]):
            return None
        section, node = f"{section}.{part}".lstrip("."), kinds[part]
    return None


def check_keys(cfg, schema=None, section: str = "") -> None:
    """Every key of a composed config in a typed section is one of its schema's: `+seeed=5` or `+foo=bar` would
    add one that nothing reads (one line, the nearest key suggested)."""
    schema = schema or OmegaConf.get_type(cfg)
    if not is_dataclass(schema):
        return
    kinds = {f.name: f.default_factory for f in fields(schema)}
    for key in cfg.keys():
        if key not in kinds:
            raise UserError(key_refusal(section, str(key), list(kinds)))
        if is_dataclass(kinds[key]) and OmegaConf.is_dict(cfg[key]):
            check_keys(cfg[key], kinds[key], f"{section}.{key}".lstrip("."))


def check_trainer(node) -> TrainerConfig:
    """The trainer section as a TrainerConfig (interpolations resolved), or one line naming the first bad value."""
    for key in node.keys():
        if key not in TRAINER_KEYS:  # `+trainer.lrr=1` is added past the schema
            raise UserError(unknown_trainer_key(str(key)))
    try:
        t = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TrainerConfig), node))
    except Exception as e:  # an unknown key or a wrong type in a config built without the schema
        raise UserError(f"config error: trainer: {str(e).splitlines()[0]}") from None
    check_settings(t, TrainerConfig, "trainer.")
    return t


def check_settings(node, schema, prefix: str = "") -> None:
    """Every value of `node` (a config section or its object) that a key of `schema` has a rule for obeys it (nested
    sections too), else one line naming the first bad setting."""
    for f in fields(schema):
        value = getattr(node, f.name, None)
        if is_dataclass(f.default_factory):
            check_settings(value, f.default_factory, f"{prefix}{f.name}.")
        elif value is not None and "rule" in f.metadata and (why := f.metadata["rule"].problem(value)):
            raise UserError(refusal(prefix + f.name, value, why, f.default))


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
    tasks: Any = MISSING
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
    max_tokens: int = _key(MISSING, "residues per batch", 1)
    output: Optional[str] = None
    exclude: Optional[str] = None
    overwrite: bool = MISSING
    progress: Any = MISSING  # auto, true or false (evaluate.show_progress checks it)
    plots: bool = MISSING  # PNGs next to the result JSON (evaluate.write_plots); plots=false turns them off


@dataclass
class HomologyConfig:
    """The homology criteria (data/build/homology.py), shared by ss-data build, ss-data audit and the library."""
    identity: float = _key(0.25, "identical positions / shorter chain", 0, 1)
    min_aln_len: int = _key(30, "aligned residues", 1)
    min_contained: int = _key(20, "exact containment of a whole chain", 1)
    min_cover: float = _key(0.9, "share of the shorter chain an alignment under min_aln_len must cover", 0, 1)


@dataclass
class MmseqsConfig:
    binary: str = "mmseqs"
    sensitivity: float = _key(7.5, "", 0, above=True)
    evalue: float = _key(0.01, "e-value, MMseqs2 and BLAST+", 0, above=True)
    max_seqs: int = _key(5000, "", 1)
    threads: int = _key(2, "", 1)
    mask: int = 0  # tantan low-complexity masking (0 = off: it hides short repetitive homologues)
    comp_bias_corr: int = 0  # composition-bias correction (0 = off)
    kmers: Any = (5, 0)  # prefilter k-mer sizes, one search each (0: MMseqs2's own choice); hits pooled


@dataclass
class BlastConfig:
    enabled: bool = True
    binary: str = "blastp"
    evalue: float = _key(0.01, "", 0, above=True)
    threads: int = _key(2, "", 1)
    max_target_seqs: int = _key(10000, "", 1)


@dataclass
class TestSplitConfig:
    """A test split the builder holds out of its pools (whole clusters), cleaned like a benchmark."""
    pools: list = field(default_factory=list)
    fraction: float = _key(0.0, "share of those pools' chains held out (0 = no test split)", 0, 1, below=True)


@dataclass
class BuildConfig(HomologyConfig):
    """configs/build.yaml (and build_cullpdb.yaml)."""
    paths: Any = None
    sources: Any = None
    benchmarks: Any = None
    min_length: int = _key(MISSING, "", 1)
    valid_fraction: float = _key(MISSING, "", 0, 1, above=True, below=True)
    seed: int = MISSING
    mmseqs: MmseqsConfig = field(default_factory=MmseqsConfig)
    blast: BlastConfig = field(default_factory=BlastConfig)
    test_split: TestSplitConfig = field(default_factory=TestSplitConfig)
    output: str = MISSING
    manifest: str = MISSING


SCHEMAS = {"train_schema": TrainConfig, "eval_schema": EvalConfig, "build_schema": BuildConfig}


def register() -> None:
    """Put the schemas into Hydra's ConfigStore (the configs' defaults lists name them)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for name, node in SCHEMAS.items():
        cs.store(name=name, node=node)

