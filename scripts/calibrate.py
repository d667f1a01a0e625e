"""Fit a checkpoint's temperature on the validation split of the built set, and store it in the checkpoint.

    python scripts/calibrate.py CHECKPOINT --build DIR (-o OUT.pt | --in-place)

DIR is the output folder of `ss-data build` (holding data/train_set.jsonl.gz and its manifest; the
`valid` data entry of configs/data/valid.yaml with paths.output_dir=DIR). Only the validation split is
read, never a benchmark; the split must come from the build the model was trained on (its manifest's
sha256 is the checkpoint's data_manifest_sha256), else --other-build is needed. The weights are copied
unchanged; only the "calibration" field is added (calibration.py applies it at prediction).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ss_predict.evaluation.calibrate import fit_file
from ss_predict.checkpoint.format import load_checkpoint, members, write_torch_file
from ss_predict.checkpoint.loading import model_path
from ss_predict.cli.args import guarded
from ss_predict.config.compose import load_config
from ss_predict.errors import UserError
from ss_predict.data.splits import load_split, manifest_hash


@guarded
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="checkpoint or ensemble file (or a bundled model name)")
    ap.add_argument("--build", required=True, help="output folder of ss-data build (paths.output_dir)")
    out = ap.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", help="write the calibrated checkpoint here (refused if it exists)")
    out.add_argument("--in-place", action="store_true", help="replace CHECKPOINT (weights stay identical)")
    ap.add_argument("--other-build", action="store_true",
                    help="accept a validation split from another build than the model's training data")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    path = model_path(args.checkpoint)
    target = path if args.in_place else Path(args.output)
    if not args.in_place and target.exists():
        raise UserError(f"{target} exists: choose another -o, or --in-place to update {path}")
    cfg = load_config("eval", ["data=valid", f"paths.output_dir={args.build}"])
    spec = cfg.data.valid
    if not Path(spec.path).is_file():
        raise UserError(f"{spec.path}: no built set there; run `ss-data build paths.output_dir={args.build}`")
    trained_on = {m.get("data_manifest_sha256") for m in members(load_checkpoint(path))}
    sha = manifest_hash(spec)
    if trained_on != {sha} and not args.other_build:
        raise UserError(f"the validation split in {args.build} (manifest sha256 {sha}) is not from the build "
                        f"the model was trained on ({', '.join(sorted(map(str, trained_on)))}); "
                        "give --other-build to fit on it anyway")
    valid = load_split(spec)
    fitted_on = {"data": "valid", "path": str(spec.path), "manifest_sha256": sha, "chains": len(valid),
                 "residues_8state": int(sum(int((p.ss8 >= 0).sum()) for p in valid if p.ss8 is not None))}
    ckpt = fit_file(path, valid, fitted_on, torch.device(args.device))
    write_torch_file(target, ckpt)
    print(json.dumps(ckpt["calibration"], indent=1))
    print(f"[calibrate] wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
