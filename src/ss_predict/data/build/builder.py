"""The training-set builder: read pools, normalise, drop duplicates, remove benchmark homologues, hold out
a test split by sequence cluster (optional: chains of the pools named in `test_split.pools`), split validation
by sequence cluster, and write the processed set plus a JSON manifest. The test split is a benchmark made here:
no training or validation chain is homologous to a test chain (the same criteria), and nothing selects on it.

Homology is `homology.homologous_pairs`: MMseqs2 in both directions without masking, plus exact
containment; the same criteria as `ss-data audit`, so the result can be re-checked by anyone.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ...config.schema import BuildConfig, check_settings
from ..splits import load_split
from ..formats.processed import to_line, write_processed
from .homology import Blast, MMseqs, homologous_pairs
from ...core.files import atomic_path

MAX_VALID_PASSES = 5


def _num(key: str) -> int:
    return int(key[1:])


def read_pools(cfg: DictConfig) -> tuple[list, dict]:
    """Pools in config order -> [(source, Protein)], exact duplicate sequences keeping their first occurrence."""
    pool, sources, seen = [], {}, set()
    for name, spec in cfg.sources.items():
        recs = load_split(spec)
        stats = {"path": str(spec.path), "format": spec.get("format"), "chains_read": len(recs),
                 "residues_read": sum(len(p) for p in recs), "duplicates_dropped": 0, "unlabelled_dropped": 0}
        for p in recs:
            if p.n_scored == 0 or len(p) < int(cfg.min_length):
                stats["unlabelled_dropped"] += 1
            elif p.sequence in seen:
                stats["duplicates_dropped"] += 1
            else:
                seen.add(p.sequence)
                pool.append((name, p))
        sources[name] = stats
    return pool, sources


def remove_benchmark_homologues(cfg, tool: list, seqs: dict[str, str]) -> tuple[dict, list, dict, int]:
    """Pool keys with a homologue in any benchmark -> (best evidence per key, removal records, per benchmark, n)."""
    bench, bench_ids = {}, {}
    for name, spec in cfg.benchmarks.items():
        for p in load_split(spec):
            key = f"b{len(bench)}"
            bench[key], bench_ids[key] = p.sequence, (name, p.id)
    hits = homologous_pairs(seqs, bench, tool, float(cfg.identity), int(cfg.min_aln_len), int(cfg.min_contained),
                            float(cfg.min_cover))
    by_key: dict[str, list] = {}
    for h in hits:
        by_key.setdefault(h.a, []).append(h)
    best = {k: max(hs, key=lambda h: (h.identity, h.aln_len)) for k, hs in by_key.items()}
    records = {k: {"benchmark": bench_ids[h.b][0], "hit": bench_ids[h.b][1], "identity": h.identity,
                   "aligned": h.aln_len, "evalue": h.evalue, "direction": h.direction, "tool": h.tool,
                   "benchmark_chains_hit": len(by_key[k])} for k, h in best.items()}
    per_bench = {n: {"pool_chains_removed": len({h.a for h in hits if bench_ids[h.b][0] == n}),
                     "benchmark_chains_with_homologue": len({h.b for h in hits if bench_ids[h.b][0] == n})}
                 for n in cfg.benchmarks}
    return records, hits, per_bench, len(bench)


def hold_out_clusters(cfg, tool: list, seqs: dict[str, str], kept: list[str], fraction: float, seed: int,
                      eligible=None) -> tuple[list, set, list, int]:
    """Held out = whole clusters (MMseqs2, the first tool) drawn at random until `fraction` of the eligible chains
    (all of `kept`, or those for which `eligible(key)` holds: then a drawn cluster gives its eligible members, and
    its others stay behind for the homology pass below); then drop the other chains homologous to a held-out chain
    until none is -> (rest, held out, dropped hits, clusters)."""
    thr = float(cfg.identity)
    rep_of = tool[0].cluster({k: seqs[k] for k in kept}, thr)
    reps = sorted(set(rep_of.values()), key=_num)
    members: dict[str, list[str]] = {r: [] for r in reps}
    size = dict.fromkeys(reps, 0)
    for k in kept:
        size[rep_of[k]] += 1
        if eligible is None or eligible(k):
            members[rep_of[k]].append(k)
    reps = [r for r in reps if members[r]]
    rng = np.random.default_rng(seed)
    target = round(fraction * sum(len(members[r]) for r in reps))
    held: set[str] = set()
    for r in rng.permutation(reps):
        if len(held) >= target:
            break
        if size[r] <= max(1, target // 20):  # no single giant family (nor one that would empty other pools)
            held.update(members[r])
    rest = [k for k in kept if k not in held]
    hseqs = {k: seqs[k] for k in sorted(held, key=_num)}
    leaks = []
    for _ in range(MAX_VALID_PASSES):  # repeat: a smaller target set can surface hits the prefilter crowded out
        hits = homologous_pairs({k: seqs[k] for k in rest}, hseqs, tool, thr, int(cfg.min_aln_len),
                                int(cfg.min_contained), float(cfg.min_cover))
        if not hits:
            break
        leaks += hits
        gone = {h.a for h in hits}
        rest = [k for k in rest if k not in gone]
    return rest, held, leaks, len(reps)


def split_validation(cfg, tool: list, seqs: dict[str, str], kept: list[str]) -> tuple[list, set, list, int]:
    """Validation = whole clusters; then drop training chains homologous to a validation chain until none is."""
    return hold_out_clusters(cfg, tool, seqs, kept, float(cfg.valid_fraction), int(cfg.seed))


def build(cfg: DictConfig) -> dict:
    """Run the whole build described by `cfg` (configs/build.yaml); returns the manifest."""
    check_settings(cfg, BuildConfig)  # a negative e-value or identity 2 would build a wrong set
    mm = MMseqs(**OmegaConf.to_container(cfg.mmseqs))
    tool = [mm] + ([Blast(**OmegaConf.to_container(cfg.blast))] if cfg.get("blast") and cfg.blast.enabled else [])
    pool, sources = read_pools(cfg)
    keys = [f"p{i}" for i in range(len(pool))]
    seqs = {k: p.sequence for k, (_, p) in zip(keys, pool)}

    removed_info, _, per_bench, n_bench = remove_benchmark_homologues(cfg, tool, seqs)
    kept = [k for k in keys if k not in removed_info]
    test, test_leaks, test_spec = set(), [], cfg.get("test_split")
    if test_spec and float(test_spec.fraction) > 0:
        test_pools = set(test_spec.pools)
        if not test_pools & set(cfg.sources):
            print(f"[ss-data build] test_split.pools {sorted(test_pools)}: none is among the sources "
                  f"({', '.join(cfg.sources)}), so this build has no test split", file=sys.stderr)
        kept, test, test_leaks, _ = hold_out_clusters(
            cfg, tool, seqs, kept, float(test_spec.fraction), int(cfg.seed) + 1,
            eligible=lambda k: pool[_num(k)][0] in test_pools)
    train, valid, leaks, n_clusters = split_validation(cfg, tool, seqs, kept)
    leaked = {h.a for h in leaks}
    test_leaked = {h.a for h in test_leaks}

    split = {k: "train" for k in train} | {k: "valid" for k in valid} | {k: "test" for k in test}
    lines = [to_line(pool[_num(k)][1], pool[_num(k)][0], split[k]) for k in keys if k in split]
    out = Path(cfg.output)
    write_processed(lines, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    for name in sources:
        ks = [k for k in keys if pool[_num(k)][0] == name]
        sources[name].update({
            "chains_pooled": len(ks),
            "removed_homologues": sum(1 for k in ks if k in removed_info),
            "removed_valid_neighbours": sum(1 for k in ks if k in leaked),
            **({"removed_test_neighbours": sum(1 for k in ks if k in test_leaked)} if test_spec else {}),
            **{f"{s}_{what}": sum(n(k) for k in ks if split.get(k) == s)
               for s in ("train", "valid", "test") if s != "test" or test_spec
               for what, n in (("chains", lambda k: 1), ("residues", lambda k: len(pool[_num(k)][1])))},
        })
    pid = {k: pool[_num(k)][1].id for k in keys}
    manifest = {
        "output": out.name,
        "sha256": digest,
        "identity_threshold": float(cfg.identity),
        "identity_definition": "identical aligned positions / length of the shorter chain",
        "criteria": (f"homologous if an alignment (MMseqs2 or BLAST+, either direction) has identity >= "
                     f"{cfg.identity}, e-value <= {cfg.mmseqs.evalue} and >= {cfg.min_aln_len} aligned residues "
                     f"(or >= {cfg.min_cover} of the shorter chain and >= {cfg.min_contained} residues); or a whole "
                     f"chain of >= {cfg.min_contained} residues occurs verbatim inside the other"),
        "min_aligned_length": int(cfg.min_aln_len),
        "min_cover_short_chains": float(cfg.min_cover),
        "min_contained_length": int(cfg.min_contained),
        "aligner": {"tool": "mmseqs2 easy-search, both directions, --alignment-mode 3",
                    **OmegaConf.to_container(cfg.mmseqs)},
        "second_aligner": ({"tool": "blastp -seg no -comp_based_stats 0, both directions",
                            **OmegaConf.to_container(cfg.blast)} if cfg.get("blast") and cfg.blast.enabled else None),
        "expression_tags": "not masked",
        "benchmarks": {n: str(s.path) for n, s in cfg.benchmarks.items()},
        "benchmark_chains": n_bench,
        "removed_per_benchmark": {n: v["pool_chains_removed"] for n, v in per_bench.items()},
        "benchmark_chains_with_pool_homologue": {n: v["benchmark_chains_with_homologue"]
                                                 for n, v in per_bench.items()},
        "valid_fraction": float(cfg.valid_fraction),
        **({"test_split": {"pools": list(test_spec.pools), "fraction": float(test_spec.fraction),
                           "rule": "whole clusters of these pools' chains; every other chain homologous to a test "
                                   "chain removed (the criteria above)"}} if test_spec else {}),
        "seed": int(cfg.seed),
        "sources": sources,
        "counts": {
            "pooled": len(pool), "removed_homologues": len(removed_info), "removed_valid_neighbours": len(leaked),
            "train_chains": len(train), "valid_chains": len(valid), "valid_clusters_total": n_clusters,
            "train_residues": sum(s["train_residues"] for s in sources.values()),
            "valid_residues": sum(s["valid_residues"] for s in sources.values()),
            **({"test_chains": len(test), "test_residues": sum(s["test_residues"] for s in sources.values()),
                "removed_test_neighbours": len(test_leaked)} if test_spec else {}),
        },
        "removed": [{"id": pid[k], "source": pool[_num(k)][0], **removed_info[k]}
                    for k in sorted(removed_info, key=_num)],
        "removed_valid_neighbours": [{"id": pid[h.a], "valid_chain": pid[h.b], "identity": h.identity,
                                      "aligned": h.aln_len, "evalue": h.evalue, "direction": h.direction,
                                      "tool": h.tool}
                                     for h in leaks],
        **({"removed_test_neighbours": [{"id": pid[h.a], "test_chain": pid[h.b], "identity": h.identity,
                                         "aligned": h.aln_len, "evalue": h.evalue, "direction": h.direction,
                                         "tool": h.tool} for h in test_leaks]} if test_spec else {}),
    }
    with atomic_path(Path(cfg.manifest)) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
