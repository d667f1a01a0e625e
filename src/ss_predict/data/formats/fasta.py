"""Plain FASTA for prediction (through Biopython), read as a stream, with strict, named validation (also
used for sequences given in Python, see `ss_predict.api`).

`iter_fasta` reads a file, a gzipped file or standard input incrementally: memory holds one record at a
time, whatever the size of the input (a gzip bomb is refused as it unpacks, not after). Planning a
prediction run over the records is `ss_predict.prediction.plan`'s job.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import re
import sys
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from Bio.SeqIO.FastaIO import SimpleFastaParser

from ...core.alphabet import AMINO_ACIDS, NONSTANDARD
from ...errors import FormatError, NucleotideError, UserError
from ...core.files import STDIO, display_name
from ...core.records import Protein
from .registry import reader

_VALID = set(AMINO_ACIDS + "X" + NONSTANDARD)
_GAPS = set("-.")
_TO_X = str.maketrans({c: "X" for c in NONSTANDARD})


NUCLEOTIDES = set("ACGTUN")
NUCLEOTIDE_MIN_LENGTH, NUCLEOTIDE_FRACTION = 20, 0.9
MAX_LINE = 1 << 24  # a line over 16 MiB is not protein FASTA (and is refused before it fills memory)
MAX_RECORD = 10_000_000  # letters: the longest protein is ~36,000 residues; past this a record is refused as it is read


def _letters(raw: str) -> str:
    seq = re.sub(r"\s+", "", raw).upper()
    return seq[:-1] if seq.endswith("*") else seq


def clean_sequence(rid: str, raw: str, where: str) -> str:
    """Upper-case, drop one trailing '*', map U/B/Z/O/J to X; reject gaps and non-letters by position."""
    seq = _letters(raw)
    if not seq:
        raise FormatError(f"{where}: record '{rid}' has an empty sequence")
    if not set(seq) <= _VALID:  # the slow, positional scan only for a record that has a bad letter
        for pos, c in enumerate(seq, start=1):
            if c in _GAPS:
                raise FormatError(f"{where}: record '{rid}' position {pos}: gap '{c}' (give unaligned sequences)")
            if c not in _VALID:
                shown = c if c.isprintable() else repr(c)
                raise FormatError(f"{where}: record '{rid}' position {pos}: '{shown}' is not an amino-acid letter")
    return seq.translate(_TO_X)


def check_not_nucleotide(rid: str, seq: str, where: str) -> None:
    """A record of >= 20 letters that is >= 90% A/C/G/T/U/N is DNA or RNA, not protein: refuse it."""
    if len(seq) >= NUCLEOTIDE_MIN_LENGTH:
        frac = sum(seq.count(c) for c in NUCLEOTIDES) / len(seq)
        if frac >= NUCLEOTIDE_FRACTION:
            raise NucleotideError(f"{where}: record '{rid}' looks like a nucleotide sequence ({frac:.0%} "
                                  "A/C/G/T/U/N); give protein sequences",
                                  "or pass --allow-nucleotide (allow_nucleotide=True in Python) to predict anyway")


class FastaRecords(list):
    """(title, sequence) pairs read from FASTA text (the server's text/plain body): as in a file, each id is its
    title's first word. Other pairs (from Python, JSON) carry explicit ids, kept whole."""


def check_record(n: int, title, raw, where: str, allow_nucleotide: bool = False, whole_id: bool = False) -> Protein:
    """The n-th (title, sequence) pair as a validated Protein; the id is the title's first word (a FASTA header),
    or with `whole_id` the title as given (an id given explicitly: a pair, a mapping's key, a SeqRecord's id)."""
    if not isinstance(title, str):
        shown = repr(title) if len(repr(title)) <= 40 else repr(title)[:37] + "..."
        raise FormatError(f"{where}: record {n} has an id of type {type(title).__name__} ({shown}), not a string")
    if whole_id:
        rid = title
        if not rid.strip():
            raise FormatError(f"{where}: record {n} has an empty id")
        bad = next((c for c in rid if unicodedata.category(c) == "Cc"), None)
        if bad is not None:
            raise FormatError(f"{where}: record {n} has an id with the control character {bad!r} at position "
                              f"{rid.index(bad) + 1} ({rid[:40]!r}): give ids on one line of printable text")
    else:
        rid = title.split()[0] if title.strip() else ""
    if not rid:
        raise FormatError(f"{where}: record {n} has no id after '>'")
    if not isinstance(raw, str):
        raise FormatError(f"{where}: record '{rid}' has a sequence of type {type(raw).__name__}, not a string")
    seq = clean_sequence(rid, raw, where)
    if not allow_nucleotide:
        check_not_nucleotide(rid, _letters(raw), where)
    return Protein(id=rid, sequence=seq, extras={"description": title})


def iter_proteins(records: Iterable[tuple[str, str]], where: str, skip_invalid: bool = False,
                  allow_nucleotide: bool = False, problems: list[str] | None = None,
                  duplicates: bool = True, whole_ids: bool = False) -> Iterator[Protein]:
    """Validated proteins of (title, sequence) pairs, lazily; duplicate ids are refused (unless `duplicates`
    is False: `prediction.plan.scan_fasta` checks them its own, leaner way). Ids are the titles' first words,
    or with `whole_ids` the titles as given (`check_record`).

    Without skip_invalid the first problem raises a FormatError naming `where` and the record; with it,
    each problem is appended to `problems` and the record is left out."""
    seen: set[bytes] = set()
    for n, (title, raw) in enumerate(records, start=1):
        try:
            p = check_record(n, title, raw, where, allow_nucleotide, whole_ids)
            if duplicates:
                key = id_key(p.id)
                if key in seen:
                    raise FormatError(f"{where}: duplicate id '{p.id}' (record {n})")
        except FormatError as e:
            if not skip_invalid:
                raise
            if problems is not None:
                problems.append(str(e))
            continue
        if duplicates:
            seen.add(key)
        yield p


def parse_records(records: Iterable[tuple[str, str]], where: str, skip_invalid: bool = False,
                  allow_nucleotide: bool = False) -> tuple[list[Protein], list[str]]:
    """(title, sequence) pairs -> (proteins, problems), all in memory."""
    problems: list[str] = []
    return list(iter_proteins(records, where, skip_invalid, allow_nucleotide, problems)), problems


def id_key(rid: str) -> bytes:
    """8 bytes standing for an id, so that checking 100 M ids for duplicates costs 8 bytes each, not a set of strings."""
    return hashlib.blake2b(rid.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def open_binary(path: str | Path):
    """A binary stream of the file (or of standard input for '-'), gunzipped on the fly if it is gzip data."""
    name = display_name(path)
    if str(path) == STDIO:
        stdin = sys.stdin
        try:
            raw = stdin.buffer if stdin is not None else None
            if raw is None or raw.closed:
                raise ValueError
            if not hasattr(raw, "peek"):  # e.g. a BytesIO standing in for standard input
                raw = io.BufferedReader(raw)
            head = raw.peek(2)[:2]
        except (ValueError, OSError, AttributeError):
            raise UserError("standard input is closed: give a FASTA file, or pipe one in") from None
    else:
        p = Path(path)
        try:
            if p.is_dir():
                raise FormatError(f"{name}: is a folder; give a file (or - for standard input)")
            raw = open(p, "rb")
            head = raw.peek(2)[:2]
        except FileNotFoundError:
            raise FormatError(f"{name}: file not found") from None
        except PermissionError:
            raise FormatError(f"{name}: cannot read (permission denied)") from None
        except OSError as e:
            raise FormatError(f"{name}: cannot read ({e.strerror or type(e).__name__})") from None
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


def iter_lines(path: str | Path) -> Iterator[str]:
    """Lines of a text file (or '-'), decoded as UTF-8 as they come (a BOM is dropped, CRLF read as LF);
    binary, non-UTF-8 or damaged gzip data is a FormatError naming the line."""
    name = display_name(path)
    stream = open_binary(path)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline=None)
    n = 0
    try:
        while True:
            try:
                line = text.readline(MAX_LINE)
            except UnicodeDecodeError:
                raise FormatError(f"{name}: line {n + 1}: binary data, not a text file (not UTF-8)") from None
            except (EOFError, zlib.error, gzip.BadGzipFile) as e:
                raise FormatError(f"{name}: damaged gzip data ({e})") from None
            except OSError as e:
                raise FormatError(f"{name}: cannot read ({e.strerror or e})") from None
            if not line:
                return
            n += 1
            if "\x00" in line:
                raise FormatError(f"{name}: line {n}: binary data, not a text file")
            if len(line) >= MAX_LINE and not line.endswith("\n"):
                raise FormatError(f"{name}: line {n} is over {MAX_LINE >> 20} MiB long: not protein FASTA")
            yield line
    finally:
        if str(path) != STDIO:
            text.close()
        else:
            text.detach()


def iter_fasta(path: str | Path) -> Iterator[tuple[str, str]]:
    """(title, sequence) pairs of a FASTA file as they are read; a file that does not start with '>' (after
    blank lines) or holds no record is a FormatError."""
    where = display_name(path)
    lines = iter_lines(path)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise FormatError(f"{where}: empty file")
    if not first.lstrip().startswith(">"):
        raise FormatError(f"{where}: line 1 does not start with '>' (not FASTA)")

    def chained():
        title, letters = first.lstrip(), 0
        yield title
        for line in lines:
            if line.startswith(">"):
                title, letters = line, 0
            else:
                letters += len(line)
                if letters > MAX_RECORD:
                    raise FormatError(f"{where}: record '{title[1:].split()[0] if title[1:].split() else '?'}' "
                                      f"is over {MAX_RECORD:,} letters long: not a protein")
            yield line
    yield from SimpleFastaParser(chained())


def iter_fasta_proteins(path: str | Path, skip_invalid: bool = False, allow_nucleotide: bool = False,
                        problems: list[str] | None = None, duplicates: bool = True) -> Iterator[Protein]:
    return iter_proteins(iter_fasta(path), display_name(path), skip_invalid, allow_nucleotide, problems, duplicates)


def parse_fasta(path: str | Path, skip_invalid: bool = False,
                allow_nucleotide: bool = False) -> tuple[list[Protein], list[str]]:
    """Every record of a FASTA file ('-': standard input; gzip read transparently) in memory;
    return (proteins, problems). Without skip_invalid the first problem raises."""
    problems: list[str] = []
    proteins = list(iter_fasta_proteins(path, skip_invalid, allow_nucleotide, problems))
    if not proteins and not problems:
        raise FormatError(f"{display_name(path)}: no FASTA records")
    return proteins, problems


@reader("fasta")
def read_fasta(path: str | Path) -> list[Protein]:
    return parse_fasta(path)[0]
