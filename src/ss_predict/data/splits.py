"""The one reader of the configs' data entries (`data.train`, `data.cb513`, `sources`, ...: {format, path,
[split], [limit], [manifest]}) into proteins: what ss-train, ss-eval, ss-data build and the scripts share."""
from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from ..config.rules import COUNT, refusal
from ..errors import UserError
from .formats import read_any


def load_split(spec) -> list:
    """Read one data entry {format, path, [split], [limit]}; limit keeps the first N chains (smoke runs)."""
    spec = OmegaConf.to_container(spec, resolve=True)
    kwargs = {k: v for k, v in spec.items() if k not in ("format", "path", "manifest", "limit")}
    limit = spec.get("limit")
    if limit is not None and (why := COUNT.problem(limit)):
        raise UserError(f"{refusal('data limit', limit, why)} ({spec['path']})")
    proteins = read_any(spec["path"], spec.get("format"), **kwargs)
    return proteins[:limit] if limit else proteins


def manifest_hash(spec) -> str | None:
    """sha256 of the processed file recorded in its manifest (None for other sources)."""
    path = spec.get("manifest")
    if not path or not Path(path).exists():
        return None
    return json.loads(Path(path).read_text()).get("sha256")

