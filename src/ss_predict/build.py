"""The training-set builder: read pools, normalise, drop duplicates, remove benchmark homologues,
split validation by sequence cluster, and write the processed set plus a JSON manifest."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from .formats import read_any
from .formats.processed import to_line, write_processed
from .homology import MMseqs
from .io_utils import atomic_path


def _load(name: str, spec) -> list:
    kwargs = {k: v for k, v in spec.items() if k not in ("format", "path")}
    return read_any(spec["path"], spec.get("format"), **kwargs)


def build(cfg: DictConfig) -> dict:
    """Run the whole build described by `cfg` (configs/build.yaml); returns the manifest."""
    tool = MMseqs(**OmegaConf.to_container(cfg.mmseqs))
    thr, min_aln = float(cfg.identity), int(cfg.min_aln_len)

    # 1. pools, in config order; exact duplicate sequences keep their first occurrence
    pool, sources, seen = [], {}, set()
    for name, spec in cfg.sources.items():
        recs = _load(name, spec)
        stats = {"path": str(spec.path), "format": spec.get("format"), "chains_read": len(recs),
                 "duplicates_dropped": 0, "unlabelled_dropped": 0}
        for p in recs:
            if p.n_scored == 0 or len(p) < int(cfg.min_length):
                stats["unlabelled_dropped"] += 1
            elif p.sequence in seen:
                stats["duplicates_dropped"] += 1
            else:
                seen.add(p.sequence)
                pool.append((name, p))
        sources[name] = stats
    keys = [f"p{i}" for i in range(len(pool))]
    seqs = {k: p.sequence for k, (_, p) in zip(keys, pool)}

    # 2. remove every chain with >= thr identity to any benchmark chain
    bench, bench_ids = {}, {}
    for name, spec in cfg.benchmarks.items():
        for j, p in enumerate(_load(name, spec)):
            bench[f"b{len(bench)}"] = p.sequence
            bench_ids[f"b{len(bench) - 1}"] = (name, p.id)
    hits = tool.search(seqs, bench, thr, min_aln)
    best: dict[str, object] = {}
    for h in hits:
        if h.query not in best or h.identity > best[h.query].identity:
            best[h.query] = h
    removed, per_bench = [], {name: 0 for name in cfg.benchmarks}
    for k in sorted(best, key=lambda k: int(k[1:])):
        h = best[k]
        src, p = pool[int(k[1:])]
        bname, bid = bench_ids[h.target]
        per_bench[bname] += 1
        removed.append({"id": p.id, "source": src, "benchmark": bname, "hit": bid,
                        "identity": h.identity, "aligned": h.aln_len})
    kept = [k for k in keys if k not in best]

    # 3. validation = whole clusters (>= thr identity), then drop training chains still similar to them
    rep_of = tool.cluster({k: seqs[k] for k in kept}, thr)
    reps = sorted(set(rep_of.values()), key=lambda k: int(k[1:]))
    members: dict[str, list[str]] = {r: [] for r in reps}
    for k in kept:
        members[rep_of[k]].append(k)
    rng = np.random.default_rng(int(cfg.seed))
    target = round(float(cfg.valid_fraction) * len(kept))
    valid: set[str] = set()
    for r in rng.permutation(reps):
        if len(valid) >= target:
            break
        if len(members[r]) <= max(1, target // 20):  # no single giant family
            valid.update(members[r])
    train = [k for k in kept if k not in valid]
    cross = tool.search({k: seqs[k] for k in sorted(valid, key=lambda k: int(k[1:]))},
                        {k: seqs[k] for k in train}, thr, min_aln)
    leak = sorted({h.target for h in cross}, key=lambda k: int(k[1:]))
    train = [k for k in train if k not in set(leak)]

    # 4. outputs
    split = {k: "train" for k in train} | {k: "valid" for k in valid}
    lines = [to_line(pool[int(k[1:])][1], pool[int(k[1:])][0], split[k]) for k in keys if k in split]
    out = Path(cfg.output)
    write_processed(lines, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    for name in sources:
        ks = [k for k in keys if pool[int(k[1:])][0] == name]
        sources[name].update({
            "chains_pooled": len(ks),
            "removed_homologues": sum(1 for k in ks if k in best),
            "removed_valid_neighbours": sum(1 for k in ks if k in set(leak)),
            "train_chains": sum(1 for k in ks if split.get(k) == "train"),
            "valid_chains": sum(1 for k in ks if split.get(k) == "valid"),
            "train_residues": sum(len(pool[int(k[1:])][1]) for k in ks if split.get(k) == "train"),
            "valid_residues": sum(len(pool[int(k[1:])][1]) for k in ks if split.get(k) == "valid"),
        })
    manifest = {
        "output": out.name,
        "sha256": digest,
        "identity_threshold": thr,
        "identity_definition": "identical aligned positions / length of the shorter chain",
        "min_aligned_length": min_aln,
        "aligner": {"tool": "mmseqs2", **OmegaConf.to_container(cfg.mmseqs)},
        "benchmarks": {n: str(s.path) for n, s in cfg.benchmarks.items()},
        "benchmark_chains": len(bench),
        "removed_per_benchmark": per_bench,
        "valid_fraction": float(cfg.valid_fraction),
        "seed": int(cfg.seed),
        "sources": sources,
        "counts": {
            "pooled": len(pool), "removed_homologues": len(removed), "removed_valid_neighbours": len(leak),
            "train_chains": len(train), "valid_chains": len(valid), "valid_clusters_total": len(reps),
            "train_residues": sum(s["train_residues"] for s in sources.values()),
            "valid_residues": sum(s["valid_residues"] for s in sources.values()),
        },
        "removed": removed,
        "removed_valid_neighbours": [pool[int(k[1:])][1].id for k in leak],
    }
    with atomic_path(Path(cfg.manifest)) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
