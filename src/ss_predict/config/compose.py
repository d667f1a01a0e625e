"""Compose the packaged Hydra configs (configs/ ships as the package `ss_predict.configs`) and check them:
Hydra's errors in one complete line, the types of schema.py (a misspelt key or a word where a number belongs
is one line), the trainer's ranges, sweeps expanded into their jobs."""
from __future__ import annotations

import itertools
import re
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from ..errors import UserError
from .help import help_text
from .rules import shown
from .schema import TRAINER_DEFAULTS, check_keys, check_trainer, register, unknown_key

register()  # the typed schemas the configs' defaults lists start with
if not OmegaConf.has_resolver("ss_help"):  # hydra.help.template of train.yaml / eval.yaml: `ss-train --help`
    OmegaConf.register_new_resolver("ss_help", help_text)
CONFIG_MODULE = "ss_predict.configs"


def hydra_message(e: Exception) -> str:
    """Hydra's multi-line message as one line: its hint and the available options kept, the search path dropped."""
    parts: list[str] = []
    for line in str(e).splitlines():
        if line.startswith("Config search path"):
            break
        if line.startswith("\t") and parts:  # an option listed under "Available options in 'model':"
            sep = " " if parts[-1].endswith(":") else ", "
            parts[-1] += sep + line.strip()
        elif line.strip():
            parts.append(line.strip())
    text = parts[0] if parts else type(e).__name__
    for part in parts[1:]:  # "Could not override 'x'. To append ..." reads as one sentence
        text += (" " if text.endswith(".") else "; ") + part
    return text


def type_message(e: Exception) -> str | None:
    """A value of the wrong type for a typed key (config/schema.py), as `key='abc' must be an integer`."""
    from omegaconf.errors import ValidationError

    cause = e.__cause__ or e.__context__
    if not isinstance(cause, ValidationError) or not cause.full_key:
        return None
    first = str(cause.msg).splitlines()[0]
    if re.match(r"field '.*' is not Optional", first):  # key=null for a key that needs a value
        return f"{cause.full_key}=None: {cause.full_key} needs a value (null is not allowed)"
    m = re.match(r"Value '(.*)' (?:of type '\w+' could not be converted to (\w+)|is not a valid (bool))", first)
    kind = {"Integer": "an integer", "Float": "a number", "bool": "true or false"}.get(m and (m[2] or m[3]))
    if not kind:
        return f"{cause.full_key}: {first}"
    key, default = cause.full_key, ""
    if key.startswith("trainer.") and TRAINER_DEFAULTS.get(key[8:]) is not None:
        default = f" (e.g. {key}={shown(TRAINER_DEFAULTS[key[8:]])}, the default)"
    return f"{key}={m[1]!r} must be {kind}{default}"


def unknown_key_message(e: Exception, name: str) -> str | None:
    """`seeed=5`, `trainer.lrr=1`: the key of a typed section that does not exist, and the nearest one (not
    Hydra's `use +seeed=5`, which would add a key that nothing reads)."""
    m = re.match(r"Could not override '([^']+)'", str(e))
    if not m:
        return None
    try:
        schema = OmegaConf.get_type(_compose(name, []))
    except UserError:
        return None
    return unknown_key(schema, m[1]) if schema is not None else None


def _compose(name: str, overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name=name, overrides=overrides)
    except Exception as e:  # hydra's override / missing-config errors, a value of the wrong type
        raise UserError(unknown_key_message(e, name) or f"config error: {type_message(e) or hydra_message(e)}") from None
    finally:
        GlobalHydra.instance().clear()


def load_config(name: str, overrides: list[str] | None = None) -> DictConfig:
    """The resolved-on-access config `name` (train, eval, build) with command-line style overrides; the types
    come from the schemas, and the trainer's values are checked (one line, before any work)."""
    cfg = _compose(name, list(overrides or []))
    check_keys(cfg)
    if "trainer" in cfg:
        check_trainer(cfg.trainer)
    return cfg


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """The override lists of every job of a `-m` sweep (`model=phd,dilated_cnn seed=0,1` -> 4 jobs)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:
        raise UserError(f"config error: {hydra_message(e)}") from None
    choices = []
    for o in parsed:
        if o.is_sweep_override():
            key = o.get_key_element()
            choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            choices.append([o.input_line])
    return [list(job) for job in itertools.product(*choices)]


def builder_command(output: Path) -> str:
    """The `ss-data build` command whose config (configs/build*.yaml) writes a file of this name."""
    import ss_predict.configs

    for f in sorted(Path(next(iter(ss_predict.configs.__path__))).glob("build*.yaml")):
        try:
            if Path(str(_compose(f.stem, []).output)).name == output.name:
                return "ss-data build" + ("" if f.stem == "build" else f" --config-name {f.stem}")
        except Exception:  # a config that does not compose on its own is no candidate
            continue
    return "ss-data build"


def check_data_paths(cfg: DictConfig, entries: DictConfig) -> None:
    """Every data entry's file exists; else one line that says what to do (build it, set the data root)."""
    if not str(cfg.paths.data_root).strip():
        raise UserError("paths.data_root is empty (is SS_DATA_ROOT set to nothing?): set SS_DATA_ROOT=/path/to/data "
                        "or paths.data_root=/path/to/data; data/README.md lists the data sets")
    root = Path(cfg.paths.data_root)
    for name, spec in entries.items():
        if not isinstance(spec, DictConfig) or "path" not in spec:
            continue
        built = Path(spec.rows_of) if spec.get("rows_of") else None  # a built set that selects rows of `path`
        if built is not None and not built.exists() or spec.get("format") == "processed" and not Path(spec.path).exists():
            built = built or Path(spec.path)
            raise UserError(f"data '{name}': the built set {built} does not exist: run `{builder_command(built)}` "
                            "first (with the same paths.output_dir / SS_OUTPUT_DIR), or choose another data=")
        path = Path(spec.path)
        try:
            path.stat()
            continue
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as e:  # e.g. a folder on the way that you may not enter
            raise UserError(f"data '{name}': cannot read {path}: {e.strerror or type(e).__name__}") from None
        where = "" if root.is_absolute() else f" (relative to the working directory {Path.cwd()})"
        if not root.is_dir():
            raise UserError(f"data root {root}{where} does not exist: set SS_DATA_ROOT=/path/to/data or "
                            "paths.data_root=/path/to/data; data/README.md lists the data sets and their sources")
        if not path.resolve().is_relative_to(root.resolve()):
            raise UserError(f"data '{name}': file not found: {path}")
        raise UserError(f"data '{name}': file not found: {path} (data root {root}{where}); data/README.md says "
                        "where to get it, or point SS_DATA_ROOT / paths.data_root at a folder that has it")

