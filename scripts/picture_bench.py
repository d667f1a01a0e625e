"""Time and peak memory of drawing one long chain (pictures.py), each size in a fresh process.

    python scripts/picture_bench.py [--lengths 2000,40000] [--formats svg,png]

The chain is CB513's sequences joined and cut to length, predicted by the bundled default model on CPU;
prints prediction seconds, drawing seconds, output size and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def one(n: int, fmt: str) -> None:
    from ss_predict.prediction import pictures
    from ss_predict.api import Predictor
    from ss_predict.data.formats import read_any
    root = os.environ.get("SS_DATA_ROOT", "data")
    chains = read_any(f"{root}/ps4_netsurfp_cb513_ts115/CB513_HHblits.csv", "netsurfp_csv")
    seq = "".join(p.sequence for p in chains)
    seq = (seq * (n // len(seq) + 1))[:n]
    t = time.perf_counter()
    pred = Predictor("default", "cpu").predict([("long", seq)])[0]
    t_pred = time.perf_counter() - t
    t = time.perf_counter()
    out = getattr(pictures, fmt)(pred)
    t_draw = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n:>7,} residues  {fmt}  predict {t_pred:5.1f} s  draw {t_draw:5.1f} s  "
          f"{len(out) / 1e6:5.2f} MB  peak RSS {rss:,.0f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lengths", default="2000,40000")
    ap.add_argument("--formats", default="svg,png")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(int(args.one[0]), args.one[1])
    for n in args.lengths.split(","):
        for fmt in args.formats.split(","):
            subprocess.run([sys.executable, __file__, "--one", n, fmt], check=True)


if __name__ == "__main__":
    main()
