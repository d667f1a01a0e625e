"""Planning a prediction run over a FASTA file: the cheap first pass (`scan_fasta`) that checks every record
before any prediction is written (ids, duplicates, output file names) and counts records and residues (for
progress, shards and resume), the windows a run is cut into, and the checks of a stream read only once."""
from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.files import display_name
from ..core.names import MAX_FILE_NAME
from ..core.records import Protein
from ..data.formats.fasta import id_key, iter_fasta_proteins
from ..errors import FormatError

@dataclass
class Scan:
    """What the first pass learned of an input: counts, the problems skipped, a fingerprint of its records,
    and the windows (records, residues) that `plan_windows` cuts the stream of valid records into."""
    records: int = 0
    residues: int = 0
    problems: list[str] = field(default_factory=list)
    sha256: str = ""
    windows: list[tuple[int, int]] = field(default_factory=list)
    repeats: frozenset = frozenset()  # 8-byte keys of ids that occur more than once (skip_invalid only)


def windows_of(items: Iterable, max_records: int, max_residues: int, size=lambda p: len(p.sequence)) -> Iterator[list]:
    """Consecutive windows of a stream (of proteins; of lengths with `size=int`): a window closes before an item
    that would take it past `max_records` or `max_residues` (a longer record has a window of its own)."""
    cur, residues = [], 0
    for item in items:
        if cur and (len(cur) + 1 > max_records or residues + size(item) > max_residues):
            yield cur
            cur, residues = [], 0
        cur.append(item)
        residues += size(item)
    if cur:
        yield cur


def plan_windows(lengths: Iterable[int], max_records: int, max_residues: int) -> Iterator[tuple[int, int]]:
    """(records, residues) of the windows `windows_of` cuts records of these lengths into. The cut depends only
    on the lengths, so every pass over the same input (a resumed run, each shard) makes the same windows."""
    return ((len(w), sum(w)) for w in windows_of(lengths, max_records, max_residues, int))


def valid_proteins(path: str | Path, skip_invalid: bool = False, allow_nucleotide: bool = False,
                   problems: list[str] | None = None, repeats: frozenset = frozenset()) -> Iterator[Protein]:
    """The records a run predicts, as a stream: valid ones, and of an id in `repeats` (found by `scan_fasta`
    under skip_invalid) only the first."""
    where, seen = display_name(path), set()
    for n, p in enumerate(iter_fasta_proteins(path, skip_invalid, allow_nucleotide, problems, duplicates=False), 1):
        if repeats:
            key = id_key(p.id)
            if key in repeats:
                if key in seen:
                    if problems is not None:
                        problems.append(f"{where}: duplicate id '{p.id}' (valid record {n})")
                    continue
                seen.add(key)
        yield p


def scan_fasta(path: str | Path, skip_invalid: bool = False, allow_nucleotide: bool = False,
               name_rule=None, max_records: int = 1000, max_residues: int = 500_000) -> Scan:
    """Check every record of a FASTA file before anything is predicted (ids, letters, duplicates); with
    `name_rule` (id -> file name) also that no two records share a file name and every name is short enough.

    Memory: 8 bytes per record for each duplicate check, 16 bytes per window; never the records themselves.
    Under skip_invalid a repeated id is a problem like any other (its first record is kept; `Scan.repeats`)."""
    where = display_name(path)

    def one_pass(repeats: frozenset) -> tuple[Scan, array, array]:
        scan, digest = Scan(repeats=repeats), hashlib.sha256()
        keys, names = array("Q"), array("Q")

        def lengths():
            for p in valid_proteins(path, skip_invalid, allow_nucleotide, scan.problems, repeats):
                keys.append(int.from_bytes(id_key(p.id), "little"))
                if name_rule is not None:
                    fname = name_rule(p.id)
                    _check_file_name(where, p.id, fname)
                    names.append(int.from_bytes(id_key(fname), "little"))
                scan.records += 1
                scan.residues += len(p.sequence)
                digest.update(f">{p.id}\n{p.sequence}\n".encode())
                yield len(p.sequence)

        scan.windows = list(plan_windows(lengths(), max_records, max_residues))
        scan.sha256 = digest.hexdigest()
        return scan, keys, names

    scan, keys, names = one_pass(frozenset())
    dups = _repeated(keys)
    if dups and skip_invalid:  # rare: read once more, keeping the first record of each repeated id
        scan, keys, names = one_pass(frozenset(k.to_bytes(8, "little") for k in dups))
    elif dups:
        _name_clash(path, lambda rid: rid, dups[0], allow_nucleotide, "id")
    if not scan.records and not scan.problems:
        raise FormatError(f"{where}: no FASTA records")
    clashes = _repeated(names) if name_rule is not None else []
    if clashes:
        _name_clash(path, name_rule, clashes[0], allow_nucleotide, "name", scan.repeats, skip_invalid)
    return scan


def _check_file_name(where: str, rid: str, fname: str) -> None:
    if len(fname.encode()) > MAX_FILE_NAME:
        raise FormatError(f"{where}: record '{rid[:60]}': its file name would be over {MAX_FILE_NAME} bytes "
                          "(255 bytes, the file system's limit, less the room of its temporary file): shorten the id "
                          "or write to a single file")


def checked_file_names(proteins: Iterable[Protein], where: str, name_rule) -> Iterator[Protein]:
    """The proteins of a stream read once (standard input, a pipe), refusing, as they come, a record whose file
    name (`name_rule(id)`) is too long or was already taken by an earlier record (its file would be replaced)."""
    seen: set[bytes] = set()
    first: dict[bytes, str] = {}
    for p in proteins:
        fname = name_rule(p.id)
        _check_file_name(where, p.id, fname)
        key = id_key(fname)
        if key in seen:
            raise FormatError(f"{where}: records '{first.get(key, '?')}' and '{p.id}' both map to the file name "
                              f"'{fname}': write to a single file instead")
        seen.add(key)
        if len(first) < 100_000:  # the ids of the first names, to name both records of a clash in the message
            first[key] = p.id
        yield p


def _repeated(keys: array) -> list[int]:
    if len(keys) < 2:
        return []
    s = np.sort(np.frombuffer(keys, dtype=np.uint64))
    return [int(k) for k in np.unique(s[1:][s[1:] == s[:-1]])]


def _name_clash(path, rule, key: int, allow_nucleotide: bool, kind: str, repeats=frozenset(),
                skip_invalid: bool = False) -> None:
    """Name the records whose ids (or file names) collide (a second read, on this rare path only)."""
    where, first = display_name(path), None
    for p in valid_proteins(path, skip_invalid, allow_nucleotide, [], repeats):
        name = rule(p.id)
        if int.from_bytes(id_key(name), "little") == key:
            if first is None:
                first = p.id
            elif kind == "id":
                raise FormatError(f"{where}: duplicate id '{p.id}'")
            else:
                raise FormatError(f"{where}: records '{first}' and '{p.id}' both map to the file "
                                  f"name '{name}': write to a single file instead")
    raise FormatError(f"{where}: two records' {kind}s collide")  # a hash collision of unequal names: vanishingly rare
