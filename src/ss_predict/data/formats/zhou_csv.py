"""Zhou & Troyanskaya rows decoded to letters: CSV with header `id,len,input,expected`.

`input` holds the residues (20 letters + X), `expected` the 8-state labels (L = coil). One CSV row
per row of the authors' `.npy.gz` file (`cb6133filtered.npy.csv`, `cb513.npy.csv`); the profile,
terminal and accessibility columns are not there, so records carry no profile. Record ids are
`<stem>|<row>` with the 0-based row index, as `read_zhou` names the rows of the `.npy.gz` files.
Zhou's CB513 (514 rows) has its last protein split over two overlapping rows: they are merged, as
`read_zhou` does (`merge=False` keeps the 514 rows, e.g. to count the literature's 84,765 residues).
"""
from __future__ import annotations

import csv
from pathlib import Path

from ...core.alphabet import parse_ss8
from ...errors import FormatError
from ...core.records import Protein
from .zhou import CB513_ROWS, merge_rows
from .registry import reader

HEADER = ["id", "len", "input", "expected"]


def is_zhou_csv(path: str | Path) -> bool:
    with open(path, newline="") as fh:
        return fh.readline().strip().split(",") == HEADER


@reader("zhou_csv")
def read_zhou_csv(path: str | Path, merge: bool = True) -> list[Protein]:
    path = Path(path)
    stem = path.name.split(".")[0]
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        if next(reader, None) != HEADER:
            raise FormatError(f"{path}: line 1: expected the header '{','.join(HEADER)}'")
        rows = []
        for i, fields in enumerate(reader):
            if len(fields) != 4:
                raise FormatError(f"{path}: line {i + 2}: expected 4 fields, found {len(fields)}")
            rid, n, seq, lab = fields
            if not (len(seq) == len(lab) == int(n)):
                raise FormatError(f"{path}: row {rid} (line {i + 2}): len {n}, {len(seq)} residues, "
                                  f"{len(lab)} labels")
            rows.append(Protein(id=f"{stem}|{i}", sequence=seq.upper(), ss8=parse_ss8(lab)))
    if merge and len(rows) == CB513_ROWS:  # CB513: the last two rows are one protein
        rows[-2:] = [merge_rows(rows[-2], rows[-1])]
    return rows
