"""The console commands, one module each (args: what they share; entry: the Hydra entry of ss-train and ss-eval;
torchrun: relaunch and per-rank naming); the work lives in the packages below."""
import importlib

COMMANDS = {"train_main": "train", "eval_main": "eval", "predict_main": "predict", "data_main": "data"}


def __getattr__(name: str):  # `from ss_predict.cli import data_main` imports that command's module only
    if name not in COMMANDS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{COMMANDS[name]}"), name)
