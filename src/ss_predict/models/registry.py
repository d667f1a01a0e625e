"""Model registry in the manner of timm: `@register_model` on a class, `create_model(name, ...)` to build."""
from __future__ import annotations

from typing import Callable

from ..errors import UserError

_MODELS: dict[str, Callable] = {}


def register_model(name: str):
    def wrap(cls):
        if name in _MODELS:
            raise ValueError(f"model '{name}' registered twice")
        _MODELS[name] = cls
        cls.model_name = name
        return cls
    return wrap


def list_models() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, in_features: int, **kwargs):
    if name not in _MODELS:
        raise UserError(f"unknown model '{name}'; registered models: {', '.join(list_models())}")
    try:
        return _MODELS[name](in_features=in_features, **kwargs)
    except TypeError as e:
        raise UserError(f"model '{name}': {e}") from None
