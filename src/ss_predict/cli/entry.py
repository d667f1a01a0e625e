"""The Hydra entry that ss-train and ss-eval share: compose the config once (checked: one clear line on error) and
run the job on it; a -m sweep is checked job by job, then handed to Hydra, which runs every job in its folder."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

from omegaconf import DictConfig

from ..config.compose import load_config, sweep_jobs
from ..core.files import check_writable_folder
from ..errors import UserError
from .args import guarded


def hydra_entry(config_name: str, task, argv: list[str]) -> None:
    """`argv` without flags: compose once and run `task`; with -m: check every job's config, then Hydra's sweep;
    --help, --cfg and Hydra's other flags go straight to Hydra."""
    flags = [a for a in argv if a.startswith("-")]
    overrides = [a for a in argv if not a.startswith("-")]
    if not flags:
        cfg = load_config(config_name, overrides)
        _check_groups(cfg)
        return _one_line_os_errors(task)(cfg)
    if all(a in ("-m", "--multirun") for a in flags):
        cfgs = [load_config(config_name, job) for job in sweep_jobs(overrides)]
        for cfg in cfgs:
            _check_groups(cfg)
        _check_sweep(cfgs)
    import hydra

    @hydra.main(config_path="pkg://ss_predict.configs", config_name=config_name, version_base="1.3")
    def main(cfg: DictConfig) -> None:
        guarded(_one_line_os_errors(task))(cfg)

    sys.argv = [sys.argv[0], *argv]
    main()


def _check_groups(cfg) -> None:
    """`data=[]` or `model=[]` (an empty choice of a config group) leaves the section empty: one line, not a crash
    deep inside the job."""
    for key in ("model", "data"):
        if key in cfg and not (isinstance(cfg.get(key), DictConfig) and len(cfg.get(key))):
            raise UserError(f"{key} is empty (was it given as {key}=[]?): choose one, e.g. "
                            + ("model=cnn_bigru" if key == "model" else "data=tiny" if "trainer" in cfg
                               else "data=cb513 or data=[cb513,ts115]"))


def _check_sweep(cfgs: list) -> None:
    """Before Hydra creates the time-stamped sweep folder: it must be writable; torchrun jobs cannot be swept."""
    for cfg in cfgs:
        check_writable_folder(Path(cfg.paths.output_dir))
        if "trainer" in cfg and cfg.trainer.devices > 1:
            raise UserError("trainer.devices > 1 cannot run inside a -m sweep: start each job on its own")


def _one_line_os_errors(task):
    """A file that cannot be read or written (read-only, full, missing folder) ends the job in one line."""
    @functools.wraps(task)
    def wrapper(cfg):
        try:
            return task(cfg)
        except BrokenPipeError:
            raise
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            raise UserError(f"{where}{e.strerror or e}: check the path, or choose another paths.output_dir "
                            "(SS_OUTPUT_DIR)") from None
    return wrapper
