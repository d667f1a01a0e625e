"""Homology between two sets of chains: MMseqs2 and BLAST+ searches in both directions, plus exact containment.

One definition serves the builder's filter, its validation split and `ss-data audit`, so a reviewer
can re-run the same criteria with their own tools:

* MMseqs2 `easy-search` A -> B and B -> A, low-complexity masking and composition-bias correction off
  (`--mask 0 --comp-bias-corr 0`), sensitivity 7.5, up to 5,000 prefilter hits per query, run twice: with
  5-mers (`-k 5`: MMseqs2's own choice missed weak homologues that BLAST finds) and with MMseqs2's own k-mer
  size (`-k 0`: the 5-mer prefilter alone missed pairs an independent check with default settings found,
  e.g. TS115|64 / 4wby-A, 25.3% identity over 95 residues, e-value 1.4e-4);
* BLAST+ `blastp` A -> B and B -> A with `-seg no -comp_based_stats 0` (a second tool: each k-mer
  prefilter has its own blind spots; an independent review found pairs only one of the two reported);
* a pair is homologous when one alignment (of either tool) has identity >= threshold (identical aligned positions /
  length of the shorter chain), e-value <= `evalue` and >= `min_aln_len` aligned residues, or, for a short chain,
  an alignment over >= `min_cover` of the shorter chain and >= `min_contained` residues (a 30-residue chain
  aligned 29/29 to a training chain is the same peptide, though one residue under the 30-residue floor);
* or when a whole chain of >= `min_contained` residues occurs verbatim inside the other (or equals it),
  whatever the alignment length (short low-complexity chains are easy to miss by alignment).
"""
from __future__ import annotations

import bisect
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...config.schema import BlastConfig, HomologyConfig, MmseqsConfig
from ...errors import UserError

CRITERIA = HomologyConfig()  # the defaults of the criteria (config/schema.py), as for ss-data build and audit


def run_tool(cmd: list[str], label: str) -> None:
    """Run an external search program; a failure is one UserError line ending in the program's last message."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        said = [ln for ln in lines if "error" in ln.lower()] or lines[-1:] or ["no message"]
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
        raise UserError(f"{label} failed ({how}): {said[0]}")


def program(name: str, tool: str, debian: str, conda: str, way_out: str) -> str:
    """The path of an external search program, or one UserError line saying how to install it."""
    if not shutil.which(name):
        raise UserError(f"{tool} ('{name}') not found: install it (Debian: apt-get install {debian}; "
                        f"conda: bioconda::{conda}) or {way_out}")
    return shutil.which(name)


@dataclass(frozen=True)
class Hit:
    """Evidence that chain `a` (first set) and `b` (second set) are homologous."""
    a: str
    b: str
    identity: float          # identical aligned positions / length of the shorter chain
    aln_len: int
    evalue: float | None     # None for exact containment
    direction: str           # "a->b" (a queried against b), "b->a", or "contained"
    tool: str = "mmseqs2"    # the search that found it: mmseqs2, blastp or containment


@dataclass
class MMseqs(MmseqsConfig):
    """MMseqs2 with the settings (and defaults) of configs' `mmseqs` section."""
    name = "mmseqs2"

    def _run(self, args: list[str]) -> None:
        exe = program(self.binary, "MMseqs2", "mmseqs2", "mmseqs2", "set mmseqs.binary")
        run_tool([exe, *args, "--threads", str(self.threads), "-v", "1"], f"mmseqs {args[0]}")

    @staticmethod
    def _fasta(seqs: dict[str, str], path: Path) -> None:
        path.write_text("".join(f">{k}\n{v}\n" for k, v in seqs.items()))

    def search_one_way(self, queries: dict[str, str], targets: dict[str, str]) -> list[tuple]:
        """Raw alignments (query, target, nident, alnlen, qlen, tlen, evalue), queries against targets, of one
        search per k-mer size in `kmers` (each prefilter has its own blind spots)."""
        if not queries or not targets:
            return []
        rows = []
        with tempfile.TemporaryDirectory(prefix="ss-mmseqs-") as tmp:
            t = Path(tmp)
            self._fasta(queries, t / "q.fasta")
            self._fasta(targets, t / "t.fasta")
            for k in self.kmers:
                hits = t / f"hits{k}.m8"
                self._run(["easy-search", str(t / "q.fasta"), str(t / "t.fasta"), str(hits), str(t / f"tmp{k}"),
                           "--format-output", "query,target,fident,alnlen,qlen,tlen,evalue",
                           "-s", str(self.sensitivity), "-e", str(self.evalue), "--max-seqs", str(self.max_seqs),
                           "--mask", str(self.mask), "--comp-bias-corr", str(self.comp_bias_corr),
                           "-k", str(k), "--alignment-mode", "3"])
                rows += hits.read_text().splitlines()
        out = []
        for row in rows:
            q, tg, fident, alnlen, qlen, tlen, ev = row.split("\t")
            # identical positions from fident (= nident / alnlen); mmseqs 14's own nident column reads 0
            out.append((q, tg, round(float(fident) * int(alnlen)), int(alnlen), int(qlen), int(tlen), float(ev)))
        return out

    def cluster(self, seqs: dict[str, str], min_identity: float, coverage: float = 0.3) -> dict[str, str]:
        """member id -> representative id (MMseqs2 easy-cluster, masking as configured)."""
        with tempfile.TemporaryDirectory(prefix="ss-mmseqs-") as tmp:
            t = Path(tmp)
            self._fasta(seqs, t / "in.fasta")
            self._run(["easy-cluster", str(t / "in.fasta"), str(t / "clu"), str(t / "tmp"),
                       "--min-seq-id", str(min_identity), "-c", str(coverage), "--cov-mode", "0",
                       "-s", str(self.sensitivity), "--mask", str(self.mask),
                       "--comp-bias-corr", str(self.comp_bias_corr)])
            pairs = [ln.split("\t") for ln in (t / "clu_cluster.tsv").read_text().splitlines() if ln]
        return {member: rep for rep, member in pairs}


@dataclass
class Blast(BlastConfig):
    """NCBI BLAST+ blastp (Debian package `ncbi-blast+`) as a second, independent search: no SEG filter,
    no composition-based statistics, so it finds weak or low-complexity homologues MMseqs2's k-mer
    prefilter can skip."""
    name = "blastp"

    def _exe(self, name: str) -> str:
        return program(name, "BLAST+", "ncbi-blast+", "blast", "set blast.enabled=false")

    def search_one_way(self, queries: dict[str, str], targets: dict[str, str]) -> list[tuple]:
        """Raw HSPs (query, target, nident, alnlen, qlen, tlen, evalue), queries against targets."""
        if not queries or not targets:
            return []
        qkeys, tkeys = list(queries), list(targets)  # BLAST reads '|' in ids as database tags: use indices
        with tempfile.TemporaryDirectory(prefix="ss-blast-") as tmp:
            t = Path(tmp)
            (t / "q.fasta").write_text("".join(f">q{i}\n{queries[k]}\n" for i, k in enumerate(qkeys)))
            (t / "t.fasta").write_text("".join(f">t{i}\n{targets[k]}\n" for i, k in enumerate(tkeys)))
            for args in ([self._exe("makeblastdb"), "-in", str(t / "t.fasta"), "-dbtype", "prot", "-out", str(t / "db")],
                         [self._exe(self.binary), "-query", str(t / "q.fasta"), "-db", str(t / "db"),
                          "-outfmt", "6 qseqid sseqid nident length qlen slen evalue", "-seg", "no",
                          "-comp_based_stats", "0", "-evalue", str(self.evalue), "-max_target_seqs",
                          str(self.max_target_seqs), "-num_threads", str(self.threads), "-out", str(t / "hits.tsv")]):
                run_tool(args, Path(args[0]).name)
            rows = (t / "hits.tsv").read_text().splitlines()
        out = []
        for row in rows:
            q, tg, nident, length, qlen, slen, ev = row.split("\t")
            out.append((qkeys[int(q[1:])], tkeys[int(tg[1:])], int(nident), int(length), int(qlen), int(slen),
                        float(ev)))
        return out


def contained_pairs(a: dict[str, str], b: dict[str, str], min_len: int = CRITERIA.min_contained) -> list[Hit]:
    """Pairs where a whole chain (>= min_len residues) of one set occurs verbatim inside a chain of the other."""
    hits: dict[tuple[str, str], Hit] = {}
    for small, big, small_is_a in ((a, b, True), (b, a, False)):
        ids = list(big)
        text = "\n".join(big[k] for k in ids)  # newline never occurs in a sequence: no match spans two chains
        starts, pos = [], 0
        for k in ids:
            starts.append(pos)
            pos += len(big[k]) + 1
        for k, s in small.items():
            if len(s) < min_len:
                continue
            i = text.find(s)
            while i >= 0:
                j = bisect.bisect_right(starts, i) - 1
                key = (k, ids[j]) if small_is_a else (ids[j], k)
                hits[key] = Hit(key[0], key[1], 1.0, len(s), None, "contained", "containment")
                i = text.find(s, i + 1)
    return sorted(hits.values(), key=lambda h: (h.a, h.b))


def homologous_pairs(a: dict[str, str], b: dict[str, str], tool, min_identity: float = CRITERIA.identity,
                     min_aln_len: int = CRITERIA.min_aln_len, min_contained: int = CRITERIA.min_contained,
                     min_cover: float = CRITERIA.min_cover) -> list[Hit]:
    """Every (a, b) pair meeting the criteria of this module, with its strongest evidence. `tool`: one
    searcher (MMseqs or Blast) or a list of them, whose hits are pooled."""
    tools = tool if isinstance(tool, (list, tuple)) else [tool]
    best: dict[tuple[str, str], Hit] = {}

    def keep(h: Hit) -> None:
        key = (h.a, h.b)
        old = best.get(key)
        if old is None or (h.identity, h.aln_len) > (old.identity, old.aln_len):
            best[key] = h

    for searcher in tools:
        for queries, targets, direction in ((a, b, "a->b"), (b, a, "b->a")):
            for q, t, nident, alnlen, qlen, tlen, ev in searcher.search_one_way(queries, targets):
                shorter = min(qlen, tlen)
                ident = nident / shorter
                long_enough = alnlen >= min_aln_len or (alnlen >= min_contained and alnlen >= min_cover * shorter)
                if long_enough and ident >= min_identity and ev <= searcher.evalue:
                    pa, pb = (q, t) if direction == "a->b" else (t, q)
                    keep(Hit(pa, pb, round(ident, 4), alnlen, ev, direction, searcher.name))
    for h in contained_pairs(a, b, min_contained):
        keep(h)
    return sorted(best.values(), key=lambda h: (h.a, h.b))
