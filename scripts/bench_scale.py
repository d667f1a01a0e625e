#!/usr/bin/env python
"""Proteome-scale prediction (issue #23): peak resident memory and residues/s of `ss-predict -f FORMAT -o FILE`
as the input grows. Prints a table and writes JSON.

    python scripts/bench_scale.py --sizes 2000,10000,40000,200000 --threads 2 --out outputs/bench_scale.json

Inputs are real chains (the Zhou CullPDB-6133-filtered sequences of `zhou_cullpdb_csv`, read from
SS_DATA_ROOT or ../shared/data), drawn with replacement under unique ids, so every size has the same length
mix. Each size runs `ss-predict` in its own process (`os.wait4` gives that process's peak RSS and CPU time); the
wall time includes start-up, both passes over the input and writing. Residues per CPU second (user + system time
of the ss-predict process) compare sizes fairly on a machine shared with other jobs; residues per wall second
need a quiet one. With `--baseline-src DIR` (the `src/` of another
checkout, e.g. the commit before streaming) the same inputs also run through that code, in the same session.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def chains() -> list[str]:
    root = Path(os.environ.get("SS_DATA_ROOT", REPO.parent / "shared" / "data"))
    path = root / "zhou_cullpdb_csv" / "cb6133filtered.npy.csv"
    with open(path) as fh:
        return [row["input"] for row in csv.DictReader(fh)]


def write_input(path: Path, n: int, pool: list[str], seed: int) -> int:
    rng = random.Random(seed)
    residues = 0
    with open(path, "w") as fh:
        for i in range(n):
            s = rng.choice(pool)
            residues += len(s)
            fh.write(f">s{i}\n{s}\n")
    return residues


def run_one(args: list[str], env: dict) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MiB) of one ss-predict process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ss_predict", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ss-predict failed: {err[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000,10000,40000,200000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--format", default="ss2")
    ap.add_argument("--baseline-src", help="src/ folder of another checkout to run on the same inputs")
    ap.add_argument("--out", default="outputs/bench_scale.json")
    a = ap.parse_args()
    pool = chains()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(x) for x in a.sizes.split(",")]:
            fa = Path(tmp) / f"in{n}.fasta"
            residues = write_input(fa, n, pool, seed=n)
            for label, src in [("streaming", str(REPO / "src"))] + ([("baseline", a.baseline_src)]
                                                                    if a.baseline_src else []):
                env = {**os.environ, "PYTHONPATH": src}
                out = Path(tmp) / f"out{n}.{label}.{a.format}"
                wall, cpu, rss = run_one([str(fa), "-f", a.format, "-o", str(out), "--threads", str(a.threads),
                                     "--quiet"], env)
                row = {"code": label, "sequences": n, "residues": residues, "seconds": round(wall, 1),
                       "residues_per_s": round(residues / wall), "cpu_seconds": round(cpu, 1),
                       "residues_per_cpu_s": round(residues / cpu), "peak_rss_mib": round(rss)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                out.unlink()
    print(f"\n{'code':10} {'sequences':>9} {'residues':>11} {'seconds':>8} {'res/s':>8} {'res/CPU-s':>9} "
          f"{'peak RSS MiB':>12}")
    for r in rows:
        print(f"{r['code']:10} {r['sequences']:>9,} {r['residues']:>11,} {r['seconds']:>8} "
              f"{r['residues_per_s']:>8,} {r['residues_per_cpu_s']:>9,} {r['peak_rss_mib']:>12,}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"threads": a.threads, "format": a.format, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
