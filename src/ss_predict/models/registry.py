"""Model registry in the manner of timm: `@register_model` on a class, `create_model(name, ...)` to build."""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Callable

from ..errors import UserError
from .base import check_tasks

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


def _check_kwargs(name: str, cls, in_features: int, kwargs: dict) -> None:
    """The user's model.kwargs against the constructor: known names, and numbers / booleans / lists where its
    defaults are such (one line naming the key); everything else is the constructor's business."""
    sig = inspect.signature(cls)
    try:
        sig.bind(in_features=in_features, **kwargs)
    except TypeError as e:
        takes = [p for p in sig.parameters if p not in ("in_features", "params")]
        raise UserError(f"model '{name}': {e} (model.kwargs it takes: {', '.join(takes)})") from None
    for key, value in kwargs.items():
        param = sig.parameters.get(key)
        default = None if param is None else param.default
        if isinstance(default, bool):
            ok, want = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif isinstance(default, float):
            ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        elif isinstance(default, (tuple, list)):
            ok, want = isinstance(value, Sequence) and not isinstance(value, str), "a list"
        else:
            continue
        if not ok:
            raise UserError(f"model '{name}': model.kwargs.{key}={value!r} must be {want} (default {default})")


def create_model(name: str, in_features: int, tasks=("ss8",), **kwargs):
    """Build a registered model predicting `tasks` (base.TASKS; ss8 alone by default). An unknown name, tasks the
    model has no heads for, or model.kwargs its constructor does not take or of the wrong kind (the user's model
    config), is a UserError; anything else the constructor raises is a bug in ss-predict and propagates as it is."""
    if name not in _MODELS:
        raise UserError(f"unknown model '{name}'; registered models: {', '.join(list_models())}")
    cls = _MODELS[name]
    _check_kwargs(name, cls, in_features, kwargs)
    tasks = check_model_tasks(name, tasks)
    if "tasks" in inspect.signature(cls).parameters:
        return cls(in_features=in_features, tasks=tasks, **kwargs)
    return cls(in_features=in_features, **kwargs)


def check_model_tasks(name: str, tasks) -> tuple[str, ...]:
    """The canonical tasks (base.check_tasks) of registered model `name`; one UserError line if it has no heads
    for them (a classical model predicts secondary structure only)."""
    tasks = check_tasks(tasks)
    if name in _MODELS and tasks != ("ss8",) and "tasks" not in inspect.signature(_MODELS[name]).parameters:
        raise UserError(f"model '{name}' predicts secondary structure only: tasks={list(tasks)} needs a neural "
                        f"model with task heads ({', '.join(n for n, c in sorted(_MODELS.items()) if 'tasks' in inspect.signature(c).parameters)})")
    return tasks
