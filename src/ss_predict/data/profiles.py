"""PSI-BLAST ASCII PSSM (`psiblast -out_ascii_pssm`) and HHblits `.hhm` -> the 22 Zhou profile values.

Zhou & Troyanskaya's profile columns are the logistic function of PSI-BLAST's position-specific
scores, 1 / (1 + exp(-s)), in the order ACDEFGHIKLMNPQRSTVWXY + NoSeq (X and NoSeq are 0 for real
residues). For an HHM the emission probabilities p are turned into PSSM-like half-bit scores
2 * log2(p / background), with the HMM's own NULL background, then through the same logistic.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from ..errors import FormatError, UserError
from .formats.zhou import ZHOU_PROFILE
from ..core.names import safe_name
from ..core.records import Protein

_ZHOU_COL = {a: i for i, a in enumerate(ZHOU_PROFILE)}
_AMINO_ACIDS = set(ZHOU_PROFILE[:21]) - {"X"}
EXTENSIONS = (".pssm", ".hhm")


def _read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file; a folder, an unreadable or a binary file is a FormatError naming it."""
    if os.path.isdir(path):
        raise FormatError(f"{path}: is a folder, not a profile file")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the run, a device never end
            raise FormatError(f"{path}: is a pipe or device, not a profile file")
        data = Path(path).read_bytes()
    except OSError as e:
        raise FormatError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: not a text file (byte {e.start} is not UTF-8)") from None


def _columns(path, letters: list[str], line: int) -> list[str]:
    if len(letters) != 20 or set(letters) != _AMINO_ACIDS:
        raise FormatError(f"{path}: line {line}: expected the 20 amino acid columns, found {' '.join(letters)}")
    return letters


def _finite(path, values: list[float], line: int) -> list[float]:
    if not np.isfinite(values).all():
        raise FormatError(f"{path}: line {line}: a score is not a finite number")
    return values


def _to_zhou(scores: np.ndarray, letters: list[str]) -> np.ndarray:
    out = np.zeros((scores.shape[0], 22), dtype=np.float32)
    for j, a in enumerate(letters):
        out[:, _ZHOU_COL[a]] = 1.0 / (1.0 + np.exp(-scores[:, j]))
    return out


def read_pssm(path: str | Path) -> tuple[str, np.ndarray]:
    """(sequence, L x 22) from a PSI-BLAST ASCII PSSM."""
    lines = _read_lines(path)
    header = next((i for i, ln in enumerate(lines) if ln.split()[:3] == ["A", "R", "N"]), None)
    if header is None:
        raise FormatError(f"{path}: no PSSM column header (A R N D ...) found: not a PSI-BLAST ASCII PSSM")
    letters = _columns(path, lines[header].split()[:20], header + 1)
    seq, rows, width = [], [], 0
    for n, ln in enumerate(lines[header + 1:], start=header + 2):
        f = ln.split()
        if not f or not f[0].isdigit():
            if rows:
                break
            continue
        width = width or len(f)  # every row as long as the first (scores, percentages, information)
        try:
            if len(f) < 22 or len(f) != width:
                raise ValueError
            rows.append(_finite(path, [float(v) for v in f[2:22]], n))
        except ValueError:
            raise FormatError(f"{path}: line {n}: expected a residue and 20 scores after the position"
                              + (f" ({len(f)} fields, the first row has {width})" if len(f) != width else "")) from None
        seq.append(f[1])
    if not rows:
        raise FormatError(f"{path}: PSSM has no residue rows")
    return "".join(seq), _to_zhou(np.asarray(rows), letters)


def read_hhm(path: str | Path) -> tuple[str, np.ndarray]:
    """(sequence, L x 22) from an HH-suite .hhm file."""
    lines = _read_lines(path)

    def probs(fields: list[str], line: int) -> np.ndarray:
        try:
            return np.array([0.0 if v == "*" else 2.0 ** (-int(v) / 1000.0) for v in fields], dtype=np.float64)
        except ValueError:
            raise FormatError(f"{path}: line {line}: expected 20 whole numbers or *") from None

    try:
        null = next(i for i, ln in enumerate(lines) if ln.startswith("NULL"))
        start = next(i for i, ln in enumerate(lines) if ln.startswith("HMM "))
    except StopIteration:
        raise FormatError(f"{path}: no NULL / HMM lines: not an HH-suite .hhm file") from None
    letters = _columns(path, lines[start].split()[1:21], start + 1)
    background = probs(lines[null].split()[1:21], null + 1)
    if len(background) != 20:
        raise FormatError(f"{path}: line {null + 1}: expected 20 NULL background values")
    seq, rows = [], []
    i = start + 3  # HMM header, transition header, NULL transitions
    while i < len(lines) and not lines[i].startswith("//"):
        f = lines[i].split()
        if len(f) >= 22 and len(f[0]) == 1 and f[0].isalpha():
            seq.append(f[0])
            rows.append(probs(f[2:22], i + 1))
            i += 3
        else:
            i += 1
    if not rows:
        raise FormatError(f"{path}: .hhm has no match states")
    p = np.asarray(rows)
    scores = 2.0 * np.log2(np.maximum(p, 1e-6) / np.maximum(background, 1e-6))
    return "".join(seq), _to_zhou(scores, letters)


def find_profile(folder: Path, rid: str) -> Path | None:
    """folder/NAME.pssm or folder/NAME.hhm, NAME the record's file name (names.safe_name, as for `-o DIR/`)."""
    for ext in EXTENSIONS:
        f = folder / f"{safe_name(rid)}{ext}"
        try:
            os.stat(f)
        except FileNotFoundError:
            if os.path.islink(f):
                raise UserError(f"record '{rid}': its profile {f} is a symbolic link to a missing file") from None
            continue
        except OSError as e:
            raise UserError(f"record '{rid}': cannot read its profile {f}: {e.strerror or type(e).__name__}") from None
        return f
    return None


def attach_profiles(proteins: list[Protein], folder: str | Path) -> None:
    """Give each protein the profile from folder/NAME.pssm or folder/NAME.hhm (must match its sequence)."""
    folder = Path(folder)
    try:
        if not stat.S_ISDIR(os.stat(folder).st_mode):
            raise UserError(f"--profiles {folder}: not a folder")
    except OSError as e:
        raise UserError(f"--profiles {folder}: {e.strerror or type(e).__name__}") from None
    for p in proteins:
        f = find_profile(folder, p.id)
        if f is None:
            name = safe_name(p.id)
            raise UserError(f"record '{p.id}': no {name}.pssm or {name}.hhm in {folder}"
                            + ("" if name == p.id else " (the id with each character other than a letter, digit, "
                               ". _ - replaced by _)"))
        seq, prof = (read_pssm if f.suffix == ".pssm" else read_hhm)(f)
        if len(seq) != len(p):
            raise UserError(f"{f}: profile has {len(seq)} residues, record '{p.id}' has {len(p)}")
        bad = next((i for i, (a, b) in enumerate(zip(seq.upper(), p.sequence)) if a != b and "X" not in (a, b)), None)
        if bad is not None:
            raise UserError(f"{f}: residue {bad + 1} is '{seq[bad]}', record '{p.id}' has '{p.sequence[bad]}'")
        p.profile = prof
