#!/usr/bin/env python
"""Pack several checkpoints into one ensemble file (their probabilities are averaged at prediction).

    python scripts/make_ensemble.py OUT.pt A.pt B.pt [--metrics outputs/eval/ensemble_valid.json]

`--metrics` stores the `results` of an `ss-eval ... data=valid` report in the file, so the bundled
model says how it was chosen. Used to build src/ss_predict/weights/default.pt.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ss_predict.checkpoint.loading import save_ensemble
from ss_predict.cli.args import guarded


@guarded  # a bad path or mixed feature specs: one line, exit 2
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output")
    ap.add_argument("members", nargs="+", help="checkpoints, bundled model names or ensemble files")
    ap.add_argument("--metrics", help="ss-eval JSON report (its 'results' are stored as the file's metrics)")
    a = ap.parse_args()
    metrics = json.loads(Path(a.metrics).read_text())["results"] if a.metrics else None
    ens = save_ensemble(a.output, a.members, metrics)
    names = ", ".join(m["model"]["name"] for m in ens["members"])
    print(f"wrote {a.output}: {len(ens['members'])} models ({names}), {Path(a.output).stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
