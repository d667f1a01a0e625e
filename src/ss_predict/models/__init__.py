"""Architectures (one file each) behind one registry; importing this package imports every module of it, and each
registers its models (`@register_model`), so a new model is its module and its configs/model/NAME.yaml."""
import importlib
import pkgutil

from .registry import create_model, list_models, register_model

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["create_model", "list_models", "register_model"]
