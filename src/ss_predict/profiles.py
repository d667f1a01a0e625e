"""PSI-BLAST ASCII PSSM (`psiblast -out_ascii_pssm`) and HHblits `.hhm` -> the 22 Zhou profile values.

Zhou & Troyanskaya's profile columns are the logistic function of PSI-BLAST's position-specific
scores, 1 / (1 + exp(-s)), in the order ACDEFGHIKLMNPQRSTVWXY + NoSeq (X and NoSeq are 0 for real
residues). For an HHM the emission probabilities p are turned into PSSM-like half-bit scores
2 * log2(p / background), with the HMM's own NULL background, then through the same logistic.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import FormatError, UserError
from .formats.zhou import ZHOU_PROFILE
from .records import Protein

_ZHOU_COL = {a: i for i, a in enumerate(ZHOU_PROFILE)}


def _to_zhou(scores: np.ndarray, letters: list[str]) -> np.ndarray:
    out = np.zeros((scores.shape[0], 22), dtype=np.float32)
    for j, a in enumerate(letters):
        out[:, _ZHOU_COL[a]] = 1.0 / (1.0 + np.exp(-scores[:, j]))
    return out


def read_pssm(path: str | Path) -> tuple[str, np.ndarray]:
    """(sequence, L x 22) from a PSI-BLAST ASCII PSSM."""
    lines = Path(path).read_text().splitlines()
    header = next((i for i, ln in enumerate(lines) if ln.split()[:3] == ["A", "R", "N"]), None)
    if header is None:
        raise FormatError(f"{path}: no PSSM column header (A R N D ...) found: not a PSI-BLAST ASCII PSSM")
    letters = lines[header].split()[:20]
    seq, rows = [], []
    for n, ln in enumerate(lines[header + 1:], start=header + 2):
        f = ln.split()
        if not f or not f[0].isdigit():
            if rows:
                break
            continue
        try:
            rows.append([float(v) for v in f[2:22]])
        except ValueError:
            raise FormatError(f"{path}: line {n}: expected 20 scores after the residue") from None
        seq.append(f[1])
    if not rows:
        raise FormatError(f"{path}: PSSM has no residue rows")
    return "".join(seq), _to_zhou(np.asarray(rows), letters)


def read_hhm(path: str | Path) -> tuple[str, np.ndarray]:
    """(sequence, L x 22) from an HH-suite .hhm file."""
    lines = Path(path).read_text().splitlines()

    def probs(fields: list[str]) -> np.ndarray:
        return np.array([0.0 if v == "*" else 2.0 ** (-int(v) / 1000.0) for v in fields], dtype=np.float64)

    try:
        null = next(ln for ln in lines if ln.startswith("NULL"))
        start = next(i for i, ln in enumerate(lines) if ln.startswith("HMM "))
    except StopIteration:
        raise FormatError(f"{path}: no NULL / HMM lines: not an HH-suite .hhm file") from None
    letters = lines[start].split()[1:21]
    background = probs(null.split()[1:21])
    seq, rows = [], []
    i = start + 3  # HMM header, transition header, NULL transitions
    while i < len(lines) and not lines[i].startswith("//"):
        f = lines[i].split()
        if len(f) >= 22 and len(f[0]) == 1 and f[0].isalpha():
            seq.append(f[0])
            rows.append(probs(f[2:22]))
            i += 3
        else:
            i += 1
    if not rows:
        raise FormatError(f"{path}: .hhm has no match states")
    p = np.asarray(rows)
    scores = 2.0 * np.log2(np.maximum(p, 1e-6) / np.maximum(background, 1e-6))
    return "".join(seq), _to_zhou(scores, letters)


def attach_profiles(proteins: list[Protein], folder: str | Path) -> None:
    """Give each protein the profile from folder/ID.pssm or folder/ID.hhm (must match its sequence)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--profiles {folder}: not a folder")
    for p in proteins:
        for ext, reader in ((".pssm", read_pssm), (".hhm", read_hhm)):
            f = folder / f"{p.id}{ext}"
            if f.exists():
                seq, prof = reader(f)
                if len(seq) != len(p):
                    raise UserError(f"{f}: profile has {len(seq)} residues, record '{p.id}' has {len(p)}")
                bad = next((i for i, (a, b) in enumerate(zip(seq.upper(), p.sequence)) if a != b and "X" not in (a, b)), None)
                if bad is not None:
                    raise UserError(f"{f}: residue {bad + 1} is '{seq[bad]}', record '{p.id}' has '{p.sequence[bad]}'")
                p.profile = prof
                break
        else:
            raise UserError(f"record '{p.id}': no {p.id}.pssm or {p.id}.hhm in {folder}")
