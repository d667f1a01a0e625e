"""The README's images, from the bundled models: the cartoon of ubiquitin (the first record of
examples/example.fasta) by `default` and by `multitask` (with its accessibility and disorder tracks), and the
reliability diagram of `default` on CB513.

    python scripts/make_figures.py [--out docs/img] [--eval RESULT.json]

Writes OUT/ubiquitin.svg, OUT/ubiquitin.png, OUT/ubiquitin_multitask.svg and OUT/cb513_reliability.png. The
diagram comes from an ss-eval result of the default model on cb513 (--eval; without it, the evaluation is run
here, ~1 min on CPU).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from ss_predict.prediction import pictures
from ss_predict.api import Predictor
from ss_predict.checkpoint.loading import load_models
from ss_predict.config.compose import load_config
from ss_predict.evaluation.plots import png_bytes, reliability
from ss_predict.evaluation.evaluate import evaluate_sets
from ss_predict.core.files import atomic_path, atomic_write_text
from ss_predict.data.splits import load_split

REPO = Path(__file__).resolve().parents[1]


def cb513_result() -> dict:
    cfg = load_config("eval", ["data=cb513"])
    loaded = load_models(["default"], torch.device("cpu"))
    return evaluate_sets(loaded.models, loaded.features, {"cb513": load_split(cfg.data.cb513)},
                         torch.device("cpu"), 65536)["cb513"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "img"))
    ap.add_argument("--eval", help="an ss-eval JSON of the default model with a cb513 result (else evaluated here)")
    args = ap.parse_args()
    out = Path(args.out)
    ubq = Predictor("default", "cpu").predict(str(REPO / "examples" / "example.fasta"))[0]
    atomic_write_text(out / "ubiquitin.svg", pictures.svg(ubq))
    with atomic_path(out / "ubiquitin.png") as tmp:
        tmp.write_bytes(pictures.png(ubq))
    ubq_tasks = Predictor("multitask", "cpu").predict(str(REPO / "examples" / "example.fasta"))[0]
    atomic_write_text(out / "ubiquitin_multitask.svg", pictures.svg(ubq_tasks))
    result = json.loads(Path(args.eval).read_text())["results"]["cb513"] if args.eval else cb513_result()
    with atomic_path(out / "cb513_reliability.png") as tmp:
        tmp.write_bytes(png_bytes(reliability(result, "CB513, bundled default model")))
    for name in ("ubiquitin.svg", "ubiquitin.png", "ubiquitin_multitask.svg", "cb513_reliability.png"):
        print(f"{out / name}  ({os.path.getsize(out / name):,} bytes)")


if __name__ == "__main__":
    main()
