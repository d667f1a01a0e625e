"""The builder's processed set: gzip'd JSON lines, one chain a line, variable length (not 700-padded).

Each line: {"id", "source", "split" (train|valid), "sequence", "ss8" (string, 'X' = unscored, or null
for 3-state-only chains), "ss3" (string, 'X' = unscored)}, and the other tasks' labels where a chain has them:
"rsa" (list, 4 decimals), "phi" / "psi" (lists, degrees, 1 decimal), null = no value; "exposed" / "disorder"
(strings of 1 / 0, '-' = unknown). A chain without a label has no key for it, so SS-only sets keep their bytes.
"""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np

from ...core.alphabet import SS3, SS8, labels_to_string, parse_ss3, parse_ss8
from ...errors import FormatError
from ...core.files import atomic_path
from ...core.records import Protein
from .registry import reader


_DECIMALS = {"rsa": 4, "phi": 1, "psi": 1}
_FLAGS = ("exposed", "disorder")


def _values(arr, decimals: int) -> list:
    return [None if math.isnan(v) else round(float(v), decimals) for v in arr]


def _flags(arr) -> str:
    return "".join("-" if v < 0 else str(int(v)) for v in arr)


def to_line(p: Protein, source: str, split: str) -> str:
    rec = {
        "id": p.id, "source": source, "split": split, "sequence": p.sequence,
        "ss8": None if p.ss8 is None else labels_to_string(p.ss8, SS8, "X"),
        "ss3": labels_to_string(p.ss3, SS3, "X"),
    }
    rec.update({k: _values(getattr(p, k), d) for k, d in _DECIMALS.items() if getattr(p, k) is not None})
    rec.update({k: _flags(getattr(p, k)) for k in _FLAGS if getattr(p, k) is not None})
    return json.dumps(rec, separators=(",", ":"))


def _labels(r: dict) -> dict:
    out = {k: np.array([np.nan if v is None else v for v in r[k]], dtype=np.float32) for k in _DECIMALS if k in r}
    for k in _FLAGS:
        if k in r:
            out[k] = np.array([-1 if c == "-" else int(c) for c in r[k]], dtype=np.int8)
    return out


def write_processed(lines: list[str], path: str | Path) -> None:
    """Byte-identical for identical lines (gzip header without time stamp or name)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as fh:
            fh.write(("\n".join(lines) + "\n").encode())


@reader("processed")
def read_processed(path: str | Path, split: str = "all", exclude_sources=()) -> list[Protein]:
    """Records of one split ("train", "valid", "test" or "all"), leaving out those of the pools named in
    `exclude_sources` (an ablation knob, e.g. `+data.train.exclude_sources=[zhou_cullpdb,cmbi_dssp]`)."""
    path = Path(path)
    exclude = set(exclude_sources or ())
    if not path.exists():
        raise FormatError(f"{path}: file not found (build it with `ss-data build`)")
    proteins, seen = [], set()
    try:
        with gzip.open(path, "rt") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                    seen.add(r["source"])
                    if (split != "all" and r["split"] != split) or r["source"] in exclude:
                        continue
                    proteins.append(Protein(
                        id=r["id"], sequence=r["sequence"],
                        ss8=None if r["ss8"] is None else parse_ss8(r["ss8"]), ss3=parse_ss3(r["ss3"]),
                        **_labels(r), extras={"source": r["source"], "split": r["split"]}))
                except (ValueError, KeyError, TypeError) as e:
                    raise FormatError(f"{path}: line {n}: not a processed record ({e})") from None
    except (OSError, EOFError) as e:
        raise FormatError(f"{path}: not a gzip'd processed set ({e})") from None
    if exclude - seen:
        raise FormatError(f"{path}: exclude_sources names no pool of this set: {', '.join(sorted(exclude - seen))} "
                          f"(its pools: {', '.join(sorted(seen))})")
    return proteins
