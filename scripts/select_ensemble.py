#!/usr/bin/env python
"""Choose the bundled model on the validation split only: score every subset of the candidate
checkpoints (probabilities averaged) on the cluster-split validation chains of the built set, keep
the best Q3 (fewer members on ties), and write it as one ensemble file.

    python scripts/select_ensemble.py --out src/ss_predict/weights/default.pt --max-members 3 \
        s0=outputs/runs/default_model/best.pt s1=outputs/runs/default_model_s1/best.pt ...

Writes a JSON table of every subset (`--report`, default outputs/eval_valid/selection.json).
Benchmarks are never read here.
"""
from __future__ import annotations

import argparse
import itertools
import json

import numpy as np
import torch

from ss_predict.data.batching import EncodedSet
from ss_predict.checkpoint.loading import load_models, save_ensemble
from ss_predict.cli.args import guarded
from ss_predict.config.compose import load_config
from ss_predict.errors import UserError
from ss_predict.inference.calibration import to_ss3
from ss_predict.inference.engine import predict_sets
from ss_predict.core.files import atomic_write_text
from ss_predict.evaluation.metrics import score_proteins
from ss_predict.data.splits import load_split


@guarded  # a bad candidate or path: one line, exit 2
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("candidates", nargs="+", help="NAME=checkpoint.pt")
    ap.add_argument("--out", help="ensemble file to write (default: only report)")
    ap.add_argument("--max-members", type=int, default=3, help="largest ensemble (CPU speed budget)")
    ap.add_argument("--report", default="outputs/eval_valid/selection.json")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    bad = [c for c in a.candidates if "=" not in c]
    if bad:
        raise UserError(f"candidate '{bad[0]}' is not NAME=checkpoint.pt")
    cands = dict(c.split("=", 1) for c in a.candidates)
    valid = load_split(load_config("train", []).data.valid)
    features = None
    probs = {}
    for name, path in cands.items():
        loaded = load_models([path], torch.device("cpu"))
        if features not in (None, loaded.features):
            raise UserError(f"{name} uses features {loaded.features}, the others {features}")
        features = loaded.features
        probs[name] = predict_sets(loaded.models, EncodedSet(valid, features), torch.device("cpu"))
    rows = []
    for k in range(1, min(a.max_members, len(cands)) + 1):
        for combo in itertools.combinations(cands, k):
            avg = [np.mean([probs[c][i] for c in combo], axis=0) for i in range(len(valid))]
            s = score_proteins(valid, [p.argmax(-1) for p in avg], [to_ss3(p).argmax(-1) for p in avg])
            rows.append({"members": list(combo), "q3": s["q3"], "q8": s["q8"], "sov3": s["sov3"]})
            print(f"{'+'.join(combo):<40} valid Q3 {s['q3']:.2f}  Q8 {s['q8']:.2f}  SOV {s['sov3']:.2f}")
    best = max(rows, key=lambda r: (round(r["q3"], 2), -len(r["members"])))
    print(f"best on validation: {'+'.join(best['members'])} (Q3 {best['q3']:.2f})")
    atomic_write_text(a.report, json.dumps({"valid_chains": len(valid), "subsets": rows, "best": best}, indent=1))
    if a.out:
        save_ensemble(a.out, [cands[c] for c in best["members"]],
                      metrics={"valid": best, "selected_from": list(cands)})
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
