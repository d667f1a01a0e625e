"""Sequence identity search and clustering through MMseqs2 (Debian/Bioconda package `mmseqs2`).

Identity is defined as in the data README: identical aligned positions / length of the shorter
chain, counted only for alignments of at least `min_aln_len` residues.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError


@dataclass(frozen=True)
class Hit:
    query: str
    target: str
    identity: float
    aln_len: int


@dataclass
class MMseqs:
    binary: str = "mmseqs"
    sensitivity: float = 7.5
    evalue: float = 10.0
    max_seqs: int = 300
    threads: int = 2

    def _exe(self) -> str:
        exe = shutil.which(self.binary)
        if exe is None:
            raise UserError(f"MMseqs2 ('{self.binary}') not found: install it (Debian: apt-get install mmseqs2; "
                            "conda: bioconda::mmseqs2) or set mmseqs.binary")
        return exe

    def _run(self, args: list[str]) -> None:
        proc = subprocess.run([self._exe(), *args, "--threads", str(self.threads), "-v", "1"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise UserError(f"mmseqs {args[0]} failed: {proc.stderr.strip().splitlines()[-1:]}")

    @staticmethod
    def _fasta(seqs: dict[str, str], path: Path) -> None:
        path.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))

    def search(self, queries: dict[str, str], targets: dict[str, str], min_identity: float,
               min_aln_len: int = 30) -> list[Hit]:
        """Every (query, target) pair reaching min_identity over >= min_aln_len aligned residues, sorted."""
        if not queries or not targets:
            return []
        with tempfile.TemporaryDirectory(prefix="ss-mmseqs-") as tmp:
            t = Path(tmp)
            self._fasta(queries, t / "q.fasta")
            self._fasta(targets, t / "t.fasta")
            self._run(["easy-search", str(t / "q.fasta"), str(t / "t.fasta"), str(t / "hits.m8"), str(t / "tmp"),
                       "--format-output", "query,target,fident,alnlen,qlen,tlen", "-s", str(self.sensitivity),
                       "-e", str(self.evalue), "--max-seqs", str(self.max_seqs), "--alignment-mode", "3"])
            rows = (t / "hits.m8").read_text().split("\n")
        best: dict[tuple[str, str], Hit] = {}
        for row in rows:
            if not row:
                continue
            q, tg, fident, alnlen, qlen, tlen = row.split("\t")
            # identical positions from fident (= nident / alnlen); mmseqs 14's own nident column reads 0
            nident = round(float(fident) * int(alnlen))
            ident = nident / min(int(qlen), int(tlen))
            if int(alnlen) >= min_aln_len and ident >= min_identity:
                key = (q, tg)
                if key not in best or ident > best[key].identity:
                    best[key] = Hit(q, tg, round(ident, 4), int(alnlen))
        return sorted(best.values(), key=lambda h: (h.query, h.target))

    def cluster(self, seqs: dict[str, str], min_identity: float, coverage: float = 0.3) -> dict[str, str]:
        """member id -> representative id."""
        with tempfile.TemporaryDirectory(prefix="ss-mmseqs-") as tmp:
            t = Path(tmp)
            self._fasta(seqs, t / "in.fasta")
            self._run(["easy-cluster", str(t / "in.fasta"), str(t / "clu"), str(t / "tmp"),
                       "--min-seq-id", str(min_identity), "-c", str(coverage), "--cov-mode", "0",
                       "-s", str(self.sensitivity)])
            pairs = [ln.split("\t") for ln in (t / "clu_cluster.tsv").read_text().splitlines() if ln]
        return {member: rep for rep, member in pairs}
