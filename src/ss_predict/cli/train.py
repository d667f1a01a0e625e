"""ss-train [hydra overrides], e.g. `ss-train model=dilated_cnn trainer.max_epochs=40`: compose the train config,
then train (or, with trainer.devices > 1, relaunch as torchrun ranks, each of which runs this module)."""
from __future__ import annotations

import os
import sys

from ..config.compose import check_data_paths
from ..training.runs import check_name, check_run_dir, run_folder
from .args import guarded
from .entry import hydra_entry
from .torchrun import launch_torchrun


def _sweep_run_dir(cfg) -> None:
    """In a -m sweep every job trains in its own folder of the time-stamped sweep folder (unless run_dir= is given)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN and not any(o.split("=", 1)[0] == "run_dir" for o in hc.overrides.task):
        with open_dict(cfg):
            cfg.run_dir = hc.runtime.output_dir


def _train_task(cfg) -> None:
    if cfg.info:
        from ..data.features import spec_dict  # torch: only when used
        from ..models import create_model
        m = create_model(cfg.model.name, spec_dict(cfg.features)["n_features"], **(cfg.model.get("kwargs") or {}))
        print(f"{cfg.model.name}: {m.n_parameters():,} parameters, receptive field "
              f"{m.receptive_field() or 'whole chain'} residues, features {cfg.features}")
        return
    _sweep_run_dir(cfg)
    if cfg.trainer.devices > 1 and "WORLD_SIZE" not in os.environ:
        check_name(cfg.name)
        check_data_paths(cfg, cfg.data)  # one line here, not one per rank
        check_run_dir(run_folder(cfg.run_dir), cfg.trainer.resume, cfg.overwrite)
        launch_torchrun(cfg.trainer.devices)
        return
    from ..training.loop import train  # torch and the trainer: only when training
    train(cfg)


@guarded
def train_main(argv: list[str] | None = None) -> None:
    hydra_entry("train", _train_task, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":  # `torchrun --nproc_per_node=N -m ss_predict.cli.train ...`: one rank
    train_main()
