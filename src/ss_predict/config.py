"""Compose the packaged Hydra configs (configs/ ships as the package `ss_predict.configs`)."""
from __future__ import annotations

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from .errors import UserError

CONFIG_MODULE = "ss_predict.configs"


def load_config(name: str, overrides: list[str] | None = None) -> DictConfig:
    """The resolved-on-access config `name` (train, eval, build) with command-line style overrides."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return compose(config_name=name, overrides=list(overrides or []))
    except Exception as e:  # hydra's override / missing-config errors
        raise UserError(f"config error: {str(e).splitlines()[0]}") from None
    finally:
        GlobalHydra.instance().clear()
