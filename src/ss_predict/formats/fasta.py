"""Plain FASTA for prediction (through Biopython), with strict, named validation."""
from __future__ import annotations

import io
import re
from pathlib import Path

from Bio.SeqIO.FastaIO import SimpleFastaParser

from ..alphabet import AMINO_ACIDS, NONSTANDARD
from ..errors import FormatError
from ..records import Protein

_VALID = set(AMINO_ACIDS + "X" + NONSTANDARD)
_GAPS = set("-.")


def clean_sequence(rid: str, raw: str, where: str) -> str:
    """Upper-case, drop one trailing '*', map U/B/Z/O/J to X; reject gaps and non-letters by position."""
    seq = re.sub(r"\s+", "", raw).upper()
    if seq.endswith("*"):
        seq = seq[:-1]
    if not seq:
        raise FormatError(f"{where}: record '{rid}' has an empty sequence")
    for pos, c in enumerate(seq, start=1):
        if c in _GAPS:
            raise FormatError(f"{where}: record '{rid}' position {pos}: gap '{c}' (give unaligned sequences)")
        if c not in _VALID:
            shown = c if c.isprintable() else repr(c)
            raise FormatError(f"{where}: record '{rid}' position {pos}: '{shown}' is not an amino-acid letter")
    return "".join("X" if c in NONSTANDARD else c for c in seq)


def _text(path: str | Path) -> str:
    data = Path(path).read_bytes()
    if b"\x00" in data:
        raise FormatError(f"{path}: binary data, not a FASTA file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: not a text file (byte {e.start} is not UTF-8)") from None


def parse_fasta(path: str | Path, skip_invalid: bool = False) -> tuple[list[Protein], list[str]]:
    """Read every record; return (proteins, problems). Without skip_invalid the first problem raises."""
    text = _text(path)
    if not text.strip():
        raise FormatError(f"{path}: empty file")
    if not text.lstrip().startswith(">"):
        raise FormatError(f"{path}: line 1 does not start with '>' (not FASTA)")
    proteins, problems, seen = [], [], set()
    for n, (title, raw) in enumerate(SimpleFastaParser(io.StringIO(text)), start=1):
        rid = title.split()[0] if title.strip() else ""
        try:
            if not rid:
                raise FormatError(f"{path}: record {n} has no id after '>'")
            if rid in seen:
                raise FormatError(f"{path}: duplicate id '{rid}' (record {n})")
            seq = clean_sequence(rid, raw, str(path))
        except FormatError as e:
            if not skip_invalid:
                raise
            problems.append(str(e))
            continue
        seen.add(rid)
        proteins.append(Protein(id=rid, sequence=seq, extras={"description": title}))
    if not proteins and not problems:
        raise FormatError(f"{path}: no FASTA records")
    return proteins, problems


def read_fasta(path: str | Path) -> list[Protein]:
    return parse_fasta(path)[0]
