"""The data-format registry: each format's module registers its reader (`@reader(NAME)`) and, where one exists,
its writer (`@writer(NAME)`); `data.formats` imports every module of the package, so a new format is its module
(and a config entry that names it)."""
from typing import Callable

READERS: dict[str, Callable] = {}
WRITERS: dict[str, Callable] = {}


def _register(table: dict, name: str):
    def wrap(fn):
        if table.setdefault(name, fn) is not fn:
            raise ValueError(f"format '{name}' registered twice")
        return fn
    return wrap


def reader(name: str):
    return _register(READERS, name)


def writer(name: str):
    return _register(WRITERS, name)
