"""One reader (and where useful a writer) per file format, registered by its own module (`registry`), and
`detect()` to pick one from a path."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from ...errors import FormatError
from ...core.records import Protein
from .dssp import is_classic_dssp
from .registry import READERS, WRITERS
from .three_line import LABEL_LETTERS
from .zhou_csv import is_zhou_csv

for _module in pkgutil.iter_modules(__path__):  # each format's module registers its reader / writer
    importlib.import_module(f"{__name__}.{_module.name}")


def detect(path: str | Path) -> str:
    """Guess the format of a file (or of a SCRATCH-1D / FLIP folder) from its name and first lines."""
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: file not found")
    if not path.is_dir() and not path.is_file():
        raise FormatError(f"{path}: a pipe or device: its format cannot be detected without reading it; "
                          "give the format (--format NAME)")
    if path.is_dir():
        if (path / "Proteins.fa").exists():
            return "scratch"
        if (path / "sampled.fasta").exists():
            return "flip"
        first = next((p for p in sorted(path.iterdir()) if p.name.lower().endswith((".dssp", ".dssp.gz"))
                      and p.is_file()), None)
        if first is not None and is_classic_dssp(_head(first).decode("utf-8", "replace")):
            return "dssp"
        raise FormatError(f"{path}: a folder, but neither SCRATCH-1D (Proteins.fa), FLIP (sampled.fasta) "
                          "nor classic DSSP files (*.dssp, *.dssp.gz)")
    name = path.name.lower()
    if name.endswith(".dssp.gz") and is_classic_dssp(_head(path).decode("utf-8", "replace")):
        return "dssp"
    if name.endswith(".jsonl.gz"):
        return "processed"
    if name.endswith((".npy", ".npy.gz")):
        return "zhou"
    if name.endswith((".h5", ".hdf5")):
        return "casp_h5"
    if name.endswith(".csv"):
        return "zhou_csv" if is_zhou_csv(path) else "netsurfp_csv"
    if name == "proteins.fa" and (path.parent / "SSpro8.dssp").exists():
        return "scratch"
    if name == "sampled.fasta" and (path.parent / "mask.fasta").exists():
        return "flip"
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if b"\x00" in head:
        raise FormatError(f"{path}: binary data of no known format")
    text = head.decode("utf-8", "replace").removeprefix("\ufeff")  # (a UTF-8 byte order mark)
    if is_classic_dssp(text):  # by content: SCRATCH-1D's SSpro8.dssp is a label file, not DSSP output
        return "dssp"
    return "three_line" if _three_line_shaped(text.splitlines()[:-1] if len(head) == 65536 else text.splitlines()) \
        else "fasta"


def _head(path: Path, n: int = 65536) -> bytes:
    """The first `n` bytes of a file, decompressed when its name ends in .gz (b"" if it is not gzip)."""
    import gzip
    if not path.name.lower().endswith(".gz"):
        with open(path, "rb") as fh:
            return fh.read(n)
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(n)
    except (OSError, EOFError):
        return b""


def _three_line_shaped(lines: list[str]) -> bool:
    """Records of exactly '>id', a sequence and a label line; most label lines of label letters only, one at least as
    long as its sequence (so a file with a short or misspelt label line is read, and refused, as a damaged 3-line
    file, not as FASTA whose records are two lines each)."""
    lines = [ln.strip() for ln in lines if ln.strip()]
    records = [lines[i:i + 3] for i in range(0, len(lines), 3)]
    whole = records[:-1] or records  # (the last record may be cut by the end of the head)
    return bool(records) and all(len(r) == 3 and r[0].startswith(">") and not r[1].startswith(">") for r in whole) \
        and 2 * sum(set(r[2].upper()) <= LABEL_LETTERS for r in whole) > len(whole) \
        and any(len(r) == 3 and len(r[1]) == len(r[2]) for r in records)


def read_any(path: str | Path, fmt: str | None = None, **kwargs) -> list[Protein]:
    if not Path(path).exists():
        raise FormatError(f"{path}: file not found")
    fmt = fmt or detect(path)
    if fmt not in READERS:
        raise FormatError(f"unknown format '{fmt}'; one of {sorted(READERS)}")
    reader = READERS[fmt]
    try:
        inspect.signature(reader).bind(path, **kwargs)
    except TypeError:
        options = list(inspect.signature(reader).parameters)[1:]
        raise FormatError(f"{path}: format '{fmt}' has no option {', '.join(sorted(kwargs))} (its options: "
                          f"{', '.join(options) or 'none'})") from None
    try:
        return reader(path, **kwargs)
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}) for format '{fmt}'") from None
    except (ValueError, IndexError, KeyError) as e:  # a reader's check missed a damaged field: still one line
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FormatError(f"{path}: not a readable '{fmt}' file ({detail})") from None


__all__ = ["READERS", "WRITERS", "detect", "read_any"]
