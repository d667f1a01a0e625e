"""NetSurfP-2.0 / PS4 CSV (CB513_HHblits.csv, TS115_HHblits.csv).

Header `input, dssp3, dssp8, disorder, cb513_mask`; each field holds one space-separated value per
residue. A residue is scored only where disorder == 1 (resolved) and cb513_mask == 1 (inside the
original CB513 segment; all 1 for TS115). The disorder column is also the disorder label of every residue
(0 there = unresolved = disordered), the benchmark NetSurfP reports disorder on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.alphabet import UNSCORED, parse_ss3, parse_ss8
from ...errors import FormatError
from ...core.records import Protein
from .registry import reader

_COLUMNS = ["input", "dssp3", "dssp8", "disorder", "cb513_mask"]


@reader("netsurfp_csv")
def read_netsurfp_csv(path: str | Path) -> list[Protein]:
    import pandas as pd  # imported here: prediction start-up does not need it

    try:
        df = pd.read_csv(path, skipinitialspace=True, dtype=str)
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: not a NetSurfP CSV ({e})") from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in _COLUMNS[:3] if c not in df.columns]
    if missing:
        raise FormatError(f"{path}: missing column(s) {missing}; expected {_COLUMNS}")
    if df.empty:
        raise FormatError(f"{path}: no records (only a header)")
    stem = Path(path).stem.split("_")[0]
    proteins = []
    for row_no, row in enumerate(df.itertuples(index=False), start=2):
        rec = row._asdict()
        seq = "".join(str(rec["input"]).split())
        fields = {c: str(rec[c]).split() for c in _COLUMNS if c in rec}
        n = len(seq)
        for c, vals in fields.items():
            if len(vals) != n:
                raise FormatError(f"{path}: line {row_no}: column '{c}' has {len(vals)} values for {n} residues")
        ss8 = parse_ss8("".join(fields["dssp8"]))
        ss3 = parse_ss3("".join(fields["dssp3"]))
        scored = np.ones(n, dtype=bool)
        for c in ("disorder", "cb513_mask"):
            if c in fields:
                scored &= np.asarray(fields[c], dtype=float) == 1.0
        ss8[~scored] = ss3[~scored] = UNSCORED
        disorder = (np.asarray(fields["disorder"], dtype=float) != 1.0).astype(np.int8) if "disorder" in fields else None
        proteins.append(Protein(id=f"{stem}|{row_no - 2}", sequence=seq, ss8=ss8, ss3=ss3, disorder=disorder))
    return proteins
