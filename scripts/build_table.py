#!/usr/bin/env python3
"""The README's build table (per source: read, duplicates, removed per benchmark, train/valid) from a
builder manifest: `python scripts/build_table.py [outputs/data/train_set.manifest.json]`."""
from __future__ import annotations

import json
import sys
from collections import Counter


def main(path: str = "outputs/data/train_set.manifest.json") -> None:
    m = json.load(open(path))
    benches = list(m["removed_per_benchmark"])
    # chains removed per source and benchmark: a chain counts under the benchmark of its strongest hit
    by_src = Counter((r["source"], r["benchmark"]) for r in m["removed"])
    head = ["source", "chains read", "residues read", "duplicates / unlabelled dropped",
            *[f"removed: {b}" for b in benches], "removed: valid neighbours", "train chains (residues)",
            "valid chains (residues)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    tot = Counter()
    for name, s in m["sources"].items():
        row = [name, f"{s['chains_read']:,}", f"{s['residues_read']:,}",
               f"{s['duplicates_dropped']:,} / {s['unlabelled_dropped']:,}",
               *[str(by_src[(name, b)]) for b in benches], str(s["removed_valid_neighbours"]),
               f"{s['train_chains']:,} ({s['train_residues']:,})", f"{s['valid_chains']:,} ({s['valid_residues']:,})"]
        print("| " + " | ".join(row) + " |")
        for k in ("chains_read", "residues_read", "duplicates_dropped", "unlabelled_dropped", "removed_valid_neighbours",
                  "train_chains", "train_residues", "valid_chains", "valid_residues"):
            tot[k] += s[k]
    total = ["**total**", f"{tot['chains_read']:,}", f"{tot['residues_read']:,}",
             f"{tot['duplicates_dropped']:,} / {tot['unlabelled_dropped']:,}",
             *[str(sum(by_src[(n, b)] for n in m["sources"])) for b in benches], str(tot["removed_valid_neighbours"]),
             f"{tot['train_chains']:,} ({tot['train_residues']:,})", f"{tot['valid_chains']:,} ({tot['valid_residues']:,})"]
    print("| " + " | ".join(total) + " |")
    print()
    print("Benchmark chains with a homologue in the pool before filtering: " + ", ".join(
        f"{b} {n}" for b, n in m["benchmark_chains_with_pool_homologue"].items()) + f" (of {m['benchmark_chains']}).")


if __name__ == "__main__":
    main(*sys.argv[1:])
