"""`ss-data audit`: every homologous pair between a training set and benchmark sets.

The criteria are the builder's (homology.homologous_pairs), so users can check their own data for
leakage with the same definition the bundled training set was built with. A set is any supported
file, optionally followed by `:SPLIT` (train, valid, test) for files that hold splits (the builder's
processed set, FLIP, Zhou 6133/5926 files).
"""
from __future__ import annotations

from pathlib import Path

from ..formats import read_any
from .homology import CRITERIA as C, Hit, homologous_pairs

SPLIT_NAMES = ("train", "valid", "test", "all")


def parse_set(arg: str) -> tuple[str, str | None]:
    """'path[:split]' -> (path, split or None)."""
    head, sep, tail = arg.rpartition(":")
    if sep and tail in SPLIT_NAMES and not Path(arg).exists():
        return head, tail
    return arg, None


def load_set(arg: str, fmt: str | None = None) -> dict[str, str]:
    path, split = parse_set(arg)
    proteins = read_any(path, fmt, **({"split": split} if split else {}))
    seqs: dict[str, str] = {}
    for p in proteins:  # ids repeat in some pools: later chains of an id become id#2, id#3, ...
        key, n = p.id, 1
        while key in seqs:
            n += 1
            key = f"{p.id}#{n}"
        seqs[key] = p.sequence
    return seqs


REPORT_HEADER = "benchmark\ttrain_id\tbenchmark_id\tidentity\taligned\tevalue\tdirection"


def audit(train: dict[str, str], benchmarks: dict[str, dict[str, str]], tool, identity: float = C.identity,
          min_aln_len: int = C.min_aln_len, min_contained: int = C.min_contained,
          min_cover: float = C.min_cover) -> dict[str, list[Hit]]:
    """Benchmark name -> homologous (training id, benchmark id) pairs."""
    return {name: homologous_pairs(train, seqs, tool, identity, min_aln_len, min_contained, min_cover)
            for name, seqs in benchmarks.items()}


def format_report(results: dict[str, list[Hit]]) -> str:
    """Tab-separated rows (with a header) for every pair."""
    rows = [REPORT_HEADER]
    for name, hits in results.items():
        for h in hits:
            ev = "-" if h.evalue is None else f"{h.evalue:.2g}"
            rows.append(f"{name}\t{h.a}\t{h.b}\t{h.identity:.4f}\t{h.aln_len}\t{ev}\t{h.direction}")
    return "\n".join(rows) + "\n"
