"""Plain FASTA for prediction (through Biopython), with strict, named validation (also used for sequences
given in Python, see `ss_predict.api`)."""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterable

from Bio.SeqIO.FastaIO import SimpleFastaParser

from ..alphabet import AMINO_ACIDS, NONSTANDARD
from ..errors import FormatError
from ..io_utils import display_name, read_input_text
from ..records import Protein

_VALID = set(AMINO_ACIDS + "X" + NONSTANDARD)
_GAPS = set("-.")


NUCLEOTIDES = set("ACGTUN")
NUCLEOTIDE_MIN_LENGTH, NUCLEOTIDE_FRACTION = 20, 0.9


def _letters(raw: str) -> str:
    seq = re.sub(r"\s+", "", raw).upper()
    return seq[:-1] if seq.endswith("*") else seq


def clean_sequence(rid: str, raw: str, where: str) -> str:
    """Upper-case, drop one trailing '*', map U/B/Z/O/J to X; reject gaps and non-letters by position."""
    seq = _letters(raw)
    if not seq:
        raise FormatError(f"{where}: record '{rid}' has an empty sequence")
    for pos, c in enumerate(seq, start=1):
        if c in _GAPS:
            raise FormatError(f"{where}: record '{rid}' position {pos}: gap '{c}' (give unaligned sequences)")
        if c not in _VALID:
            shown = c if c.isprintable() else repr(c)
            raise FormatError(f"{where}: record '{rid}' position {pos}: '{shown}' is not an amino-acid letter")
    return "".join("X" if c in NONSTANDARD else c for c in seq)


def check_not_nucleotide(rid: str, raw: str, where: str) -> None:
    """A record of >= 20 letters that is >= 90% A/C/G/T/U/N is DNA or RNA, not protein: refuse it."""
    seq = _letters(raw)
    if len(seq) >= NUCLEOTIDE_MIN_LENGTH:
        frac = sum(c in NUCLEOTIDES for c in seq) / len(seq)
        if frac >= NUCLEOTIDE_FRACTION:
            raise FormatError(f"{where}: record '{rid}' looks like a nucleotide sequence ({frac:.0%} A/C/G/T/U/N); "
                              "give protein sequences, or pass --allow-nucleotide (allow_nucleotide=True in "
                              "Python) to predict anyway")


def parse_records(records: Iterable[tuple[str, str]], where: str, skip_invalid: bool = False,
                  allow_nucleotide: bool = False) -> tuple[list[Protein], list[str]]:
    """(title, sequence) pairs -> (proteins, problems); the id is the title's first word.

    Without skip_invalid the first problem raises a FormatError naming `where` and the record."""
    proteins, problems, seen = [], [], set()
    for n, (title, raw) in enumerate(records, start=1):
        rid = title.split()[0] if title.strip() else ""
        try:
            if not rid:
                raise FormatError(f"{where}: record {n} has no id after '>'")
            if rid in seen:
                raise FormatError(f"{where}: duplicate id '{rid}' (record {n})")
            seq = clean_sequence(rid, raw, where)
            if not allow_nucleotide:
                check_not_nucleotide(rid, raw, where)
        except FormatError as e:
            if not skip_invalid:
                raise
            problems.append(str(e))
            continue
        seen.add(rid)
        proteins.append(Protein(id=rid, sequence=seq, extras={"description": title}))
    return proteins, problems


def parse_fasta(path: str | Path, skip_invalid: bool = False,
                allow_nucleotide: bool = False) -> tuple[list[Protein], list[str]]:
    """Read every record of a FASTA file ('-': standard input; gzip read transparently);
    return (proteins, problems). Without skip_invalid the first problem raises."""
    where = display_name(path)
    text = read_input_text(path)
    if not text.strip():
        raise FormatError(f"{where}: empty file")
    if not text.lstrip().startswith(">"):
        raise FormatError(f"{where}: line 1 does not start with '>' (not FASTA)")
    proteins, problems = parse_records(SimpleFastaParser(io.StringIO(text)), where, skip_invalid, allow_nucleotide)
    if not proteins and not problems:
        raise FormatError(f"{where}: no FASTA records")
    return proteins, problems


def read_fasta(path: str | Path) -> list[Protein]:
    return parse_fasta(path)[0]
