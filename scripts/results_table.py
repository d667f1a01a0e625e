#!/usr/bin/env python
"""Markdown tables of the README from outputs/eval/*.json and outputs/runs/*/summary.json.

    python scripts/results_table.py [--eval outputs/eval] [--runs outputs/runs]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", default="outputs/eval")
    ap.add_argument("--runs", default="outputs/runs")
    ap.add_argument("--bench", default="outputs/bench_models.json",
                    help="output of scripts/bench.py --checkpoints (prediction res/s per model)")
    a = ap.parse_args()
    infer, bench_params = {}, {}
    if Path(a.bench).exists():
        for r in json.loads(Path(a.bench).read_text())["models"]:
            infer[r["model"]], bench_params[r["model"]] = r.get("infer_res_s_cpu"), r.get("parameters")
    rows = []
    for f in sorted(Path(a.eval).glob("*.json")):
        rep = json.loads(f.read_text())
        name = f.stem
        summary = Path(a.runs) / name / "summary.json"
        s = json.loads(summary.read_text()) if summary.exists() else {}
        hist = s.get("history", [])
        train_s = sum(h.get("epoch_seconds", h.get("fit_seconds", 0)) for h in hist)
        speed = hist[-1].get("residues_per_s") if hist else None
        rows.append((name, rep, s.get("parameters") or bench_params.get(name), train_s, speed, len(hist)))
    sets = sorted({k for _, rep, *_ in rows for k in rep["results"]},
                  key=lambda k: ["cb513", "ts115", "casp12", "casp10", "casp11"].index(k)
                  if k in ["cb513", "ts115", "casp12", "casp10", "casp11"] else 9)
    head = "| model | params | epochs | train time (s) | train res/s | predict res/s | " + " | ".join(
        f"{s} Q3 / Q8 / SOV" for s in sets) + " |"
    print(head)
    print("|" + "---|" * (6 + len(sets)))
    for name, rep, params, train_s, speed, epochs in rows:
        cells = []
        for s in sets:
            r = rep["results"].get(s)
            cells.append(f"{r['q3']:.1f} / {r['q8']:.1f} / {r['sov3']:.1f}" if r else "")
        print(f"| {name} | {params or ''} | {epochs or ''} | {f'{train_s:.0f}' if epochs else ''} | "
              f"{'' if speed is None else f'{speed:,.0f}'} | "
              f"{'' if infer.get(name) is None else f'{infer[name]:,.0f}'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
