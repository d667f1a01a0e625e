"""3-line label files (>id / sequence / DSSP labels): LIFT_SS test and validation sets, BC40.

L and P (polyproline) are coil; X is unknown and not scored. Sequences are checked as FASTA's are; a label
line must have one known label letter per residue.
"""
from __future__ import annotations

from pathlib import Path

from ...core.alphabet import COIL_ALIASES, SS3, SS8, labels_to_string, parse_ss8
from ...errors import FormatError
from ...core.records import Protein
from ...core.files import atomic_write_text
from .fasta import clean_sequence
from .registry import reader, writer

LABEL_LETTERS = frozenset(SS8 + "".join(COIL_ALIASES) + "X")


@reader("three_line")
def read_three_line(path: str | Path) -> list[Protein]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # (a byte order mark is dropped)
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: not a UTF-8 text file (byte {e.start})") from None
    lines = [ln.rstrip("\r\n") for ln in text.splitlines()]
    proteins = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        if not lines[i].startswith(">") or i + 2 >= len(lines):
            raise FormatError(f"{path}: line {i + 1}: expected '>id' followed by a sequence and a label line")
        if not lines[i][1:].split():
            raise FormatError(f"{path}: line {i + 1}: record has no id after '>'")
        rid, lab = lines[i][1:].split()[0], lines[i + 2].strip()
        seq = clean_sequence(rid, lines[i + 1], f"{path}: line {i + 2}")
        if len(seq) != len(lab):
            raise FormatError(f"{path}: record '{rid}' (line {i + 1}): {len(seq)} residues but {len(lab)} labels")
        bad = next((k for k, c in enumerate(lab.upper()) if c not in LABEL_LETTERS), None)
        if bad is not None:
            raise FormatError(f"{path}: line {i + 3}: record '{rid}' position {bad + 1}: '{lab[bad]}' is not a DSSP "
                              f"label ({SS8}, L/P/- for coil, X for unknown)")
        proteins.append(Protein(id=rid, sequence=seq, ss8=parse_ss8(lab)))
        i += 3
    return proteins


@writer("fasta3")
def write_three_line(proteins: list[Protein], path: str | Path) -> None:
    """Writes 8-state labels (X where unscored); 3-state-only records get their 3-state letters."""
    out = []
    for p in proteins:
        labels, states = (p.ss8, SS8) if p.ss8 is not None else (p.ss3, SS3)
        out += [f">{p.id}", p.sequence, "X" * len(p) if labels is None else labels_to_string(labels, states)]
    atomic_write_text(path, "\n".join(out) + "\n")
