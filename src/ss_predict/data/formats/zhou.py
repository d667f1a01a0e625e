"""Zhou & Troyanskaya (ICML 2014) CullPDB / CB513 profile files: N x 700 x 57 (or flat N x 39900).

Columns of each residue row:
  [0, 22)   one-hot residue, order ACEDGFIHKMLNQPSRTWVYX + NoSeq (padding)
  [22, 31)  one-hot 8-state label, order L B E G I H S T + NoSeq (L = coil, our C)
  [31, 33)  N- and C-terminal flags
  [33, 35)  relative and absolute solvent accessibility
  [35, 57)  22 profile values, order ACDEFGHIKLMNPQRSTVWXY + NoSeq

Public files: cullpdb+profile_6133(.npy.gz), cullpdb+profile_6133_filtered, cullpdb+profile_5926,
cullpdb+profile_5926_filtered and cb513+profile_split1. Named splits follow the authors' README.
Chains over 700 residues occupy several overlapping rows (CB513's last two rows are one protein);
rows are merged back into one protein by their terminal flags or, for CB513, explicitly.

Written files follow the public files' convention (see `to_zhou_array`): NoSeq only on padding, every
real residue one of the 8 labels, stored flat (N x 39900 float32).
"""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

from ...core.alphabet import SS8, UNSCORED
from ...errors import FormatError, UserError
from ...core.files import atomic_path
from ...core.records import Protein
from .processed import read_processed
from .registry import reader, writer

ROW_LEN = 700
N_COLS = 57
ZHOU_RESIDUES = "ACEDGFIHKMLNQPSRTWVYX"
ZHOU_LABELS = "LBEGIHST"
ZHOU_PROFILE = "ACDEFGHIKLMNPQRSTVWXY"  # + NoSeq: the profile column order used everywhere here
RES, LAB, TERM, ACC, PROF = slice(0, 22), slice(22, 31), slice(31, 33), slice(33, 35), slice(35, 57)
# Number of rows -> (train, test, valid) row ranges, from the data set's README.
SPLITS = {
    6133: {"train": (0, 5600), "test": (5605, 5877), "valid": (5877, 6133)},
    5926: {"train": (0, 5430), "test": (5435, 5690), "valid": (5690, 5926)},
}
CB513_ROWS = 514
WRITE_STRIDE = 500  # rows of long chains start every 500 residues (>= 200 residues of overlap)

assert ZHOU_LABELS.replace("L", "C") == SS8  # our 8-state order is the Zhou label order


def zhou_labels_to_ss8(lab: np.ndarray) -> np.ndarray:
    """n x (8 or 9) one-hot labels -> int8 SS8 indices; rows that are not exactly one of the 8 are unscored."""
    eight = lab[:, :8]
    ss8 = eight.argmax(1).astype(np.int8)
    ss8[eight.sum(1) != 1] = UNSCORED
    if lab.shape[1] > 8:
        ss8[lab[:, 8] == 1] = UNSCORED
    return ss8


def load_array(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: file not found")
    try:  # a plain .npy is mapped, not read (rows are converted one by one); a .npy.gz is read once, no copy
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                arr = np.load(fh, allow_pickle=False)
        else:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise FormatError(f"{path}: not a Zhou .npy/.npy.gz array ({e})") from None
    if arr.ndim == 2 and arr.shape[1] == ROW_LEN * N_COLS:
        arr = arr.reshape(arr.shape[0], ROW_LEN, N_COLS)
    if arr.ndim != 3 or arr.shape[1:] != (ROW_LEN, N_COLS):
        raise FormatError(f"{path}: array shape {arr.shape}, expected N x 700 x 57 or N x 39900")
    return arr


def _row_to_protein(row: np.ndarray, rid: str) -> Protein:
    onehot = row[:, :21]
    keep = np.flatnonzero((onehot.sum(1) == 1) & (row[:, 21] == 0))
    r = row[keep]
    seq = "".join(ZHOU_RESIDUES[j] for j in r[:, :21].argmax(1))
    profile = r[:, PROF].astype(np.float32)
    return Protein(
        id=rid, sequence=seq, ss8=zhou_labels_to_ss8(r[:, LAB]),
        profile=profile if profile.any() else None,
        extras={"terminals": r[:, TERM].astype(np.float32), "accessibility": r[:, ACC].astype(np.float32)},
    )


def _overlap(a: str, b: str) -> int:
    """Longest k >= 1 with a[-k:] == b[:k] (0 if none)."""
    for k in range(min(len(a), len(b)), 0, -1):
        if a[-k:] == b[:k]:
            return k
    return 0


def merge_rows(first: Protein, second: Protein) -> Protein:
    """One protein split over two overlapping rows -> one record (labels of the overlap from `first`)."""
    k = _overlap(first.sequence, second.sequence)

    def cat(x, y):
        return None if x is None or y is None else np.concatenate([x, y[k:]])

    return Protein(
        id=first.id, sequence=first.sequence + second.sequence[k:], ss8=cat(first.ss8, second.ss8),
        profile=cat(first.profile, second.profile),
        extras={key: cat(first.extras.get(key), second.extras.get(key)) for key in ("terminals", "accessibility")},
    )


@reader("zhou")
def read_zhou(path: str | Path, split: str = "all", merge: bool = True, rows_of: str | Path | None = None,
              rows_split: str = "all") -> list[Protein]:
    """Read a Zhou file; split is all, train, test or valid (the latter three for 6133 / 5926 rows).

    rows_of: a processed set (`ss-data build`) whose records are rows of this data set (ids
    `<file>|<row>`, e.g. from the Zhou CSV): only the rows of its `rows_split` are returned, with this
    file's profiles, each checked to hold the same sequence. That gives the built set's homology filter
    and cluster split to the profile files (`data=cullpdb_cb513_npy`); use merge=False there, as the
    CSV rows are not merged.
    """
    arr = load_array(path)
    n = arr.shape[0]
    lo, hi = 0, n
    if split != "all":
        if n not in SPLITS or split not in SPLITS[n]:
            raise FormatError(f"{path}: split '{split}' is defined for the 6133- and 5926-row files "
                              f"(train/test/valid), this file has {n} rows; use split=all")
        lo, hi = SPLITS[n][split]
    stem = Path(path).name.split(".")[0]
    rows = [_row_to_protein(arr[i], f"{stem}|{i}") for i in range(lo, hi)]
    rows = merge_all(rows, n) if merge else rows
    return rows if rows_of is None else _rows_like(rows, path, rows_of, rows_split)


def _row_index(rid: str) -> int | None:
    tail = rid.rsplit("|", 1)[-1]
    return int(tail) if "|" in rid and tail.isdigit() else None


def _rows_like(proteins: list[Protein], path, rows_of, rows_split: str) -> list[Protein]:
    """The records of `proteins` whose row a processed set's `rows_split` names, checked by sequence."""
    by_row = {_row_index(p.id): p for p in proteins}
    out = []
    for r in read_processed(rows_of, split=rows_split):
        i = _row_index(r.id)
        if i is None:
            raise FormatError(f"{rows_of}: record '{r.id}' names no Zhou row (expected '<file>|<row>')")
        if i not in by_row:
            raise FormatError(f"{path}: no row {i} (named by '{r.id}' of {rows_of})")
        if by_row[i].sequence != r.sequence:
            raise FormatError(f"{path}: row {i} is not the chain '{r.id}' of {rows_of} (the sequences "
                              "differ): not the same data set")
        out.append(by_row[i])
    return sorted(out, key=lambda p: _row_index(p.id))


def merge_all(rows: list[Protein], n: int) -> list[Protein]:
    """Merge the rows of chains split over several rows (terminal flags; CB513's last two rows)."""
    flagged = any(p.extras["terminals"][:, 0].any() for p in rows)
    out: list[Protein] = []
    for i, p in enumerate(rows):
        prev = out[-1] if out else None
        continues = (
            prev is not None and flagged and len(p) > 0 and p.extras["terminals"][0, 0] == 0
            and prev.extras["terminals"][-1, 1] == 0 and _overlap(prev.sequence, p.sequence) >= 10
        )
        if not flagged and n == CB513_ROWS and i == len(rows) - 1:
            continues = True  # CB513: the last two rows are one protein
        if continues:
            out[-1] = merge_rows(prev, p)
        else:
            out.append(p)
    return out


def _row_spans(n: int) -> list[tuple[int, int]]:
    if n <= ROW_LEN:
        return [(0, n)]
    starts = list(range(0, n - ROW_LEN, WRITE_STRIDE)) + [n - ROW_LEN]
    return [(s, s + ROW_LEN) for s in starts]


def _chain_rows(p: Protein) -> list[np.ndarray]:
    """The rows of one chain's labelled residues (unlabelled ones dropped first, then long chains cut)."""
    keep = np.flatnonzero(p.ss8 >= 0)
    n = len(keep)
    full = np.zeros((n, N_COLS), dtype=np.float32)
    res = [ZHOU_RESIDUES.find(c) if c in ZHOU_RESIDUES else 20 for c in p.sequence]
    full[np.arange(n), np.asarray(res, dtype=np.int64)[keep]] = 1
    full[np.arange(n), 22 + p.ss8[keep].astype(np.int64)] = 1
    term = p.extras.get("terminals")
    if term is not None and len(term) == len(p):
        full[:, TERM] = np.asarray(term)[keep]
    else:
        full[0, 31] = full[n - 1, 32] = 1
    acc = p.extras.get("accessibility")
    if acc is not None and np.shape(acc) == (len(p), 2):
        full[:, ACC] = np.asarray(acc)[keep]
    if p.profile is not None:
        full[:, PROF] = p.profile[keep]
    rows = []
    for s, e in _row_spans(n):
        row = np.zeros((ROW_LEN, N_COLS), dtype=np.float32)
        row[: e - s] = full[s:e]
        row[e - s:, 21] = 1  # NoSeq residue: padding only
        row[e - s:, 30] = 1  # NoSeq label: padding only
        rows.append(row)
    return rows


def to_zhou_array(proteins: list[Protein]) -> tuple[np.ndarray, dict]:
    """Proteins -> (N x 700 x 57 float32 array, counts).

    The public files' convention, which other loaders rely on (they take a chain's length from the
    NoSeq label column 30): every real residue carries exactly one of the 8 labels and NoSeq (columns
    21 and 30) marks padding only. So residues without an 8-state label (unresolved, X, outside a
    benchmark segment) are dropped, joining the pieces on either side as DSSP's chain breaks do, before
    chains over 700 residues are cut into overlapping rows; chains without any 8-state label (3-state-only
    FLIP chains, unlabelled FASTA) are dropped whole. counts: proteins and rows written,
    dropped_residues (inside written chains) and dropped_chains.
    """
    rows, written, dropped_res, dropped_chains = [], 0, 0, 0
    for p in proteins:
        n_lab = 0 if p.ss8 is None else int((p.ss8 >= 0).sum())
        if n_lab == 0:
            dropped_chains += 1
            continue
        rows += _chain_rows(p)
        written += 1
        dropped_res += len(p) - n_lab
    arr = np.stack(rows) if rows else np.zeros((0, ROW_LEN, N_COLS), dtype=np.float32)
    return arr, {"proteins": written, "rows": len(rows), "dropped_residues": dropped_res,
                 "dropped_chains": dropped_chains}


@writer("zhou")
def write_zhou(proteins: list[Protein], path: str | Path) -> dict:
    """Write the public files' layout: a flat N x 39900 float32 array (`.npy`, or gzip'd when `.gz`).

    `np.load(gzip.open(path)).reshape(-1, 700, 57)` gives the rows. Returns the counts of
    `to_zhou_array` (residues and chains without 8-state labels are dropped); refuses to write a file
    without any labelled chain.
    """
    arr, counts = to_zhou_array(proteins)
    if not counts["proteins"]:
        raise UserError(f"{path}: nothing to write: none of the {len(proteins)} chains has 8-state labels "
                        "(the Zhou layout needs one of the 8 labels on every residue)")
    buf = io.BytesIO()
    np.save(buf, arr.reshape(-1, ROW_LEN * N_COLS))
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            with gzip.GzipFile(tmp, "wb", mtime=0) as fh:
                fh.write(buf.getvalue())
        else:
            tmp.write_bytes(buf.getvalue())
    return counts
