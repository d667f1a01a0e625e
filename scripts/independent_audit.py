"""A second, independent leakage check: the criteria an outside reviewer used (issue #28), run with MMseqs2 directly.

Not the builder's code path (homology.py): one plain `mmseqs easy-search` per direction and per set, MMseqs2's
own k-mer choice (no -k), `-s 7.5 --max-seqs 5000 --mask 0 --comp-bias-corr 0 -e 0.01`; a pair counts when
identity over the shorter chain (identical aligned positions / shorter length) is >= 25% with >= 30 aligned
residues, or when one chain occurs verbatim inside the other (any length). Only reading the sets is shared with
ss-predict (its format readers), so the search and the criteria can disagree with the builder's.

    python scripts/independent_audit.py outputs/data/train_set.jsonl.gz:train \
        cb513=$SS_DATA_ROOT/ps4_netsurfp_cb513_ts115/CB513_HHblits.csv ... [-o pairs.tsv]

Prints one line per set (chains with a homologue) and writes every pair (TSV). Exit 1 if any pair is found.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from ss_predict.data.build.audit import load_set
from ss_predict.cli.args import guarded
from ss_predict.errors import UserError

ARGS = ["-s", "7.5", "--max-seqs", "5000", "--mask", "0", "--comp-bias-corr", "0", "-e", "0.01",
        "--alignment-mode", "3", "--format-output", "query,target,fident,alnlen,qlen,tlen,evalue"]


def write_fasta(seqs: dict[str, str], path: Path) -> list[str]:
    ids = list(seqs)
    path.write_text("".join(f">s{i}\n{seqs[k]}\n" for i, k in enumerate(ids)))  # plain ids: no '|' parsing
    return ids


def search(q: dict[str, str], t: dict[str, str], tmp: Path, threads: int) -> list[tuple]:
    qi, ti = write_fasta(q, tmp / "q.fa"), write_fasta(t, tmp / "t.fa")
    subprocess.run(["mmseqs", "easy-search", str(tmp / "q.fa"), str(tmp / "t.fa"), str(tmp / "hits.m8"),
                    str(tmp / "tmp"), *ARGS, "--threads", str(threads), "-v", "1"], check=True)
    out = []
    for row in (tmp / "hits.m8").read_text().splitlines():
        a, b, fident, alnlen, qlen, tlen, ev = row.split("\t")
        out.append((qi[int(a[1:])], ti[int(b[1:])], round(float(fident) * int(alnlen)), int(alnlen), int(qlen),
                    int(tlen), float(ev)))
    return out


def pairs(train: dict[str, str], bench: dict[str, str], threads: int) -> dict[tuple[str, str], str]:
    """(train id, benchmark id) -> why (the first criterion that holds)."""
    found: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory(prefix="indep-audit-") as tmp:
        for q, t, flip in ((train, bench, False), (bench, train, True)):
            for a, b, nident, alnlen, qlen, tlen, ev in search(q, t, Path(tmp), threads):
                ident = nident / min(qlen, tlen)
                if ident >= 0.25 and alnlen >= 30 and ev <= 0.01:
                    key = (b, a) if flip else (a, b)
                    found.setdefault(key, f"alignment {'benchmark->train' if flip else 'train->benchmark'}: "
                                          f"{ident:.3f} over {min(qlen, tlen)} (aligned {alnlen}, e {ev:.2g})")
    for b, s in bench.items():  # a benchmark chain inside a training chain, or a training chain inside it
        for k, ts in train.items():
            if (s in ts or ts in s) and (k, b) not in found:
                found[(k, b)] = f"exact containment ({len(ts)} / {len(s)} residues)"
    return found


@guarded  # a missing file or a malformed NAME=PATH: one line, exit 2 (exit 1 means pairs found)
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train", help="PATH[:split] of the training set")
    ap.add_argument("sets", nargs="+", help="NAME=PATH[:split] of each benchmark or validation set")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", help="TSV of every pair")
    args = ap.parse_args()
    train = load_set(args.train)
    rows, total = ["set\ttrain_id\ttrain_len\tother_id\tother_len\twhy"], 0
    for spec in args.sets:
        name, _, path = spec.partition("=")
        if not name or not path:
            raise UserError(f"'{spec}': give each set as NAME=PATH[:split], e.g. cb513=CB513_HHblits.csv")
        other = load_set(path)
        found = pairs(train, other, args.threads)
        total += len(found)
        for (a, b), why in sorted(found.items()):
            rows.append(f"{name}\t{a}\t{len(train[a])}\t{b}\t{len(other[b])}\t{why}")
        print(f"{name}: {len({b for _, b in found})} of {len(other)} chains with a homologue among {len(train)} "
              f"training chains ({len(found)} pairs)", flush=True)
    if args.output:
        Path(args.output).write_text("\n".join(rows) + "\n")
    else:
        print("\n".join(rows))
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
