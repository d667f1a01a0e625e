"""The data-format registry: each format's module registers its reader (`@reader(NAME)`) and, where one exists,
its writer (`@writer(NAME)`); `data.formats` imports every module of the package, so a new format is its module
(and a config entry that names it)."""
from __future__ import annotations

from typing import Callable

READERS: dict[str, Callable] = {}
WRITERS: dict[str, Callable] = {}


def _register(table: dict, name: str):
    def wrap(fn):
        if name in table:
            raise ValueError(f"format '{name}' registered twice")
        table[name] = fn
        return fn
    return wrap


def reader(name: str):
    return _register(READERS, name)


def writer(name: str):
    return _register(WRITERS, name)
