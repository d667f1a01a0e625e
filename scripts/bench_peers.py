#!/usr/bin/env python
"""ss-predict beside REPROF (Rost lab, the PHD line) in single-sequence mode: Q3, RSA, 2-state accessibility, speed.

    apt-get install reprof                     # Debian's reprof 1.0.1 (models under /usr/share/reprof)
    nice -n 10 python scripts/bench_peers.py                       # the build's DSSP test split (data=dssp_test,
                                                                   # ${SS_OUTPUT_DIR}/data/train_set.jsonl.gz)
    nice -n 10 python scripts/bench_peers.py --model runs/mt/best.pt --json outputs/peers.json
    nice -n 10 python scripts/bench_peers.py --data cb513 --limit 100
    nice -n 10 python scripts/bench_peers.py --data $SS_DATA_ROOT/cmbi_dssp_chains/dssp_sample --format dssp \\
        --model mt.pt                          # any file or folder a reader reads (--format, --split)

What runs, over the same chains:
  * REPROF: `reprof -i CHAIN.fasta -o CHAIN.reprof`, one process per chain (a FASTA input is one sequence: REPROF
    joins every record of a file into one chain), no PSSM, so its sequence-only networks (fa/fu/fb/...) predict.
    Letters other than the 20 amino acids are sent as X (REPROF turns them into X itself, with a warning a line).
    Its wall time is that of all the calls, each starting Perl and loading its 16 networks, as REPROF is used.
  * ss-predict: one Predictor (`--model`, `--device`) over all chains at once (predict_proteins: the batches the CLI
    makes), on one CPU thread unless --threads says otherwise (REPROF is one Perl process, one core). The table's
    res/s is the prediction alone; the model load is timed apart and printed under the table. On a machine busy
    with other work, wall times say little (a torch thread pool sharing busy cores stalls): time on a quiet one.

What is read from REPROF's output (a tab-separated table under `#` comment lines that name its columns):
  PHEL (H, E, L) is its 3-state prediction; L is coil (C here). PREL is its relative accessibility in percent, the
  midpoint of the most likely of 10 classes (P10 = k gives PREL = floor((k^2 + (k+1)^2) / 2): 0, 2, 6, 12, 20, 30,
  42, 56, 72 or 90), relative to REPROF's own maximal accessibilities (REPROF_MAX_ACC below, from RG/Reprof.pm);
  PACC is PREL x that maximum / 100, rounded down (square angstroms). The labels here are DSSP ACC / Tien et al.
  (2013)'s maxima (core.alphabet.MAX_ASA), so by default (`--reprof-rsa tien`) REPROF's RSA is put on the labels'
  scale: ASA = PREL / 100 x REPROF_MAX_ACC[residue] (PACC before its rounding), RSA = ASA / MAX_ASA[residue], capped
  at 1 (core.alphabet.rsa_from_asa). `--reprof-rsa prel` takes PREL / 100 as it is. (REPROF's own 2-state column,
  Pbe, cuts at 16% PREL; the 2-state column here cuts every tool's RSA at 25%, as ss-eval does.)

Scores are ss-eval's (evaluation.metrics): Q3 over the residues with a 3-state label (evaluate_predictions, the
core of score_proteins; REPROF has no 8 states), RSA PCC (Pearson) over the residues with an RSA label, 2-state
accuracy at 25% RSA over the residues with an RSA (or 2-state) label (task_metrics). A model without an rsa head
gets '-' in the RSA columns. `--json FILE` writes every number, with the residue counts behind each.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ss_predict.cli.args import guarded
from ss_predict.core.alphabet import parse_ss3, rsa_from_asa
from ss_predict.errors import UserError

# REPROF's maximal accessibilities (square angstroms), as RG/Reprof.pm's %acc_norm holds them (Rost & Sander 1994):
# its PREL is 100 x ACC / these, its PACC = floor(PREL / 100 x these).
REPROF_MAX_ACC = {"A": 106, "B": 160, "C": 135, "D": 163, "E": 194, "F": 197, "G": 84, "H": 184, "I": 169,
                  "K": 205, "L": 164, "M": 188, "N": 157, "P": 136, "Q": 198, "R": 248, "S": 130, "T": 142,
                  "V": 142, "W": 227, "X": 180, "Y": 222, "Z": 196}
AMINO = set("ACDEFGHIKLMNPQRSTVWY")
REPROF_COLUMNS = ("No", "AA", "PHEL", "pH", "pE", "pL", "PACC", "PREL")


@dataclass
class ReprofPrediction:
    """One chain of REPROF's output: sequence as it read it, ss3 (int8 indices into alphabet.SS3, "HEC"), p3
    (L x 3, H E C, its pH pE pL / 100), prel (percent, relative to REPROF_MAX_ACC), pacc (square angstroms)."""
    sequence: str
    ss3: np.ndarray
    p3: np.ndarray
    prel: np.ndarray
    pacc: np.ndarray


def parse_reprof(text: str, name: str = "REPROF output") -> ReprofPrediction:
    """REPROF's output table (the `No AA PHEL RI_S pH pE pL PACC PREL P10 RI_A Pbe Pbie` header line after `#`
    comments; columns found by name)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise UserError(f"{name}: no REPROF table (no line outside '#' comments)")
    header = lines[0].split("\t")
    missing = [c for c in REPROF_COLUMNS if c not in header]
    if missing:
        raise UserError(f"{name}: not a REPROF table: no column {', '.join(missing)} in its header {lines[0]!r}")
    col = {c: header.index(c) for c in REPROF_COLUMNS}
    rows = [ln.split("\t") for ln in lines[1:]]
    for i, r in enumerate(rows, 1):
        if len(r) != len(header) or r[col["No"]] != str(i):
            raise UserError(f"{name}: row {i} is damaged ({len(r)} fields, No {r[col['No']]!r}; expected "
                            f"{len(header)} fields, No {i})")
    seq = "".join(r[col["AA"]] for r in rows)
    ss3 = parse_ss3("".join(r[col["PHEL"]] for r in rows))
    if (ss3 < 0).any():
        raise UserError(f"{name}: PHEL letters other than H, E, L at row {int(np.argmax(ss3 < 0)) + 1}")
    try:
        p3 = np.array([[int(r[col[c]]) for c in ("pH", "pE", "pL")] for r in rows], dtype=np.float32) / 100
        prel = np.array([int(r[col["PREL"]]) for r in rows], dtype=np.float32)
        pacc = np.array([int(r[col["PACC"]]) for r in rows], dtype=np.float32)
    except ValueError as e:
        raise UserError(f"{name}: a number column holds something else ({e})") from None
    return ReprofPrediction(seq, ss3, p3.reshape(len(rows), 3), prel, pacc)


def reprof_rsa(sequence: str, prel: np.ndarray, scale: str = "tien") -> np.ndarray:
    """REPROF's PREL (percent) as RSA 0..1: `tien` (default) on the labels' scale (see the module's docstring),
    `prel` as REPROF gives it. NaN where the scale has no maximum (X)."""
    prel = np.asarray(prel, dtype=np.float32)
    if scale == "prel":
        return prel / 100
    if scale != "tien":
        raise ValueError(f"scale: tien or prel, not {scale!r}")
    asa = prel / 100 * np.array([REPROF_MAX_ACC.get(a, np.nan) for a in sequence], dtype=np.float32)
    return rsa_from_asa(sequence, asa)


def reprof_query(sequence: str) -> str:
    """The sequence REPROF is given: the 20 amino acids as they are, anything else X."""
    return "".join(a if a in AMINO else "X" for a in sequence.upper())


def reprof_version() -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "reprof"], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""
    except OSError:
        return ""


def find_reprof(exe: str) -> str:
    found = shutil.which(exe)
    if not found:
        raise UserError(f"REPROF not found ('{exe}'): install it (apt-get install reprof), give --reprof PATH, or "
                        "leave it out with --tools ss-predict")
    return found


def run_reprof(proteins, exe: str, keep: Path | None = None) -> tuple[list[ReprofPrediction], float]:
    """REPROF on each chain, one call each: (predictions, wall seconds of the calls)."""
    found = find_reprof(exe)
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    preds, wall = [], 0.0
    with tempfile.TemporaryDirectory(prefix="bench_peers_") as tmp:
        for i, p in enumerate(proteins):
            query = reprof_query(p.sequence)
            fasta, out = Path(tmp) / f"{i}.fasta", Path(tmp) / f"{i}.reprof"
            fasta.write_text(f">{p.id}\n{query}\n")
            t = time.perf_counter()
            run = subprocess.run([found, "-i", str(fasta), "-o", str(out)], capture_output=True, text=True)
            wall += time.perf_counter() - t
            if run.returncode != 0 or not out.is_file():
                last = (run.stderr.strip().splitlines() or ["no message"])[-1]
                raise UserError(f"REPROF failed on chain '{p.id}' (exit status {run.returncode}): {last}")
            text = out.read_text()
            if keep:
                (keep / f"{i:05d}_{''.join(c if c.isalnum() or c in '._-' else '_' for c in p.id)}.reprof") \
                    .write_text(text)
            pred = parse_reprof(text, f"REPROF output of '{p.id}'")
            if pred.sequence != query:
                raise UserError(f"REPROF output of '{p.id}' is for another sequence ({len(pred.sequence)} residues, "
                                f"the chain has {len(query)})")
            preds.append(pred)
    return preds, wall


def run_ss_predict(proteins, model: str, device: str, max_tokens: int):
    """One Predictor over all chains: (predictions, model load seconds, prediction seconds, its tasks)."""
    import ss_predict.checkpoint.loading  # noqa: F401  (imports before the clock: the load is the model's)
    import ss_predict.inference.engine  # noqa: F401
    from ss_predict.prediction.predictor import Predictor

    t = time.perf_counter()
    predictor = Predictor(model, device, max_tokens=max_tokens)
    load = time.perf_counter() - t
    query = predictor.read([(p.id, p.sequence) for p in proteins])
    t = time.perf_counter()
    preds = predictor.predict_proteins(query)
    if predictor.device.type == "cuda":
        import torch
        torch.cuda.synchronize()
    return preds, load, time.perf_counter() - t, predictor.tasks


def score(proteins, pred3: list[np.ndarray], rsa: list[np.ndarray] | None) -> dict:
    """ss-eval's numbers: Q3 (and SOV'99) over 3-state labels, RSA PCC and 2-state accuracy over RSA labels."""
    from ss_predict.evaluation.metrics import evaluate_predictions, task_metrics

    items = [(None, p.ss3, y, y) for p, y in zip(proteins, pred3) if p.ss3 is not None]
    ss = evaluate_predictions(items)
    out = {"chains": len(proteins), "residues": int(sum(len(p) for p in proteins)), "q3": ss["q3"],
           "q3_residues": ss["residues_scored"], "sov3": ss["sov3"]}
    if rsa is not None:
        tm = task_metrics(proteins, [{"rsa": np.asarray(r, dtype=np.float32)} for r in rsa])
        out.update({k: tm[k] for k in ("rsa_pcc", "rsa_residues", "asa_mae", "exposure_acc", "exposure_residues")
                    if k in tm})
    return out


def load_chains(data: str, fmt: str | None, split: str | None, limit: int | None) -> tuple[list, str]:
    """The chains of a configs/data name (dssp_test, cb513, ...) or of a file / folder; (chains, description)."""
    from ss_predict.data.formats import read_any
    from ss_predict.data.splits import load_split

    if os.path.exists(data):
        proteins = read_any(data, fmt, **({"split": split} if split else {}))
        what = f"{data}" + (f" ({fmt})" if fmt else "") + (f" split {split}" if split else "")
    else:
        if fmt or split:
            raise UserError(f"--data {data}: not a file or folder, so a configs/data name, which sets its own "
                            "format and split (--format / --split are for paths)")
        from ss_predict.config.compose import load_config
        cfg = load_config("eval", [f"data={data}"])
        proteins = []
        for name, spec in cfg.data.items():
            if not Path(spec.path).exists() and spec.format == "processed":
                raise UserError(f"data {name}: {spec.path} is not there: run `ss-data build` first, or point "
                                "SS_OUTPUT_DIR at the build's output folder")
            proteins += load_split(spec)
        where = [str(s.path) + (f" split {s.split}" if s.get("split") else "") for s in cfg.data.values()]
        what = f"data={data} ({', '.join(where)})"
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit must be at least 1, got {limit}")
        proteins = proteins[:limit]
    if not proteins:
        raise UserError(f"{what}: no chain")
    return proteins, what


def _num(v, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def table(rows: list[dict]) -> str:
    lines = ["| tool | chains | residues | Q3 | RSA PCC | 2-state | res/s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['tool']} | {r['chains']} | {r['residues']:,} | {_num(r['q3'], '.1f')} | "
                     f"{_num(r.get('rsa_pcc'), '.3f')} | {_num(r.get('exposure_acc'), '.1f')} | "
                     f"{_num(r.get('res_per_s'), ',.0f')} |")
    return "\n".join(lines)


@guarded
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="dssp_test",
                    help="a configs/data name (default dssp_test: the build's DSSP test split) or a file / folder")
    ap.add_argument("--format", help="the reader of a --data path (default: detected)")
    ap.add_argument("--split", help="the split of a --data path in the processed format (train / valid / test)")
    ap.add_argument("--limit", type=int, help="the first N chains only")
    ap.add_argument("--model", default="default", help="ss-predict's model: a bundled name or checkpoint(s)")
    ap.add_argument("--device", default="cpu", help="ss-predict's device (REPROF runs on the CPU)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads for ss-predict (default 1: REPROF runs on one core too)")
    ap.add_argument("--max-tokens", type=int, default=32768, help="ss-predict's residues per batch")
    ap.add_argument("--tools", default="reprof,ss-predict", help="which to run (comma-separated)")
    ap.add_argument("--reprof", default="reprof", help="REPROF's executable")
    ap.add_argument("--reprof-rsa", choices=("tien", "prel"), default="tien",
                    help="REPROF's PREL on the labels' scale (tien, default) or as it is (prel): see the docstring")
    ap.add_argument("--keep-reprof", type=Path, help="keep REPROF's output files in this folder")
    ap.add_argument("--json", type=Path, help="also write every number here")
    args = ap.parse_args(argv)

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if not tools or set(tools) - {"reprof", "ss-predict"}:
        raise UserError(f"--tools {args.tools}: reprof and/or ss-predict")
    if "reprof" in tools:
        find_reprof(args.reprof)  # before any data is read
    if args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    import torch
    torch.set_num_threads(args.threads)
    proteins, what = load_chains(args.data, args.format, args.split, args.limit)
    total = sum(len(p) for p in proteins)
    print(f"[bench_peers] {len(proteins)} chains, {total:,} residues: {what}", file=sys.stderr)
    rows, notes = [], []
    for tool in tools:
        if tool == "reprof":
            preds, wall = run_reprof(proteins, args.reprof, args.keep_reprof)
            row = score(proteins, [p.ss3 for p in preds],
                        [reprof_rsa(p.sequence, p.prel, args.reprof_rsa) for p in preds])
            version = reprof_version()
            row.update(tool=f"REPROF{' ' + version if version else ''} (single sequence)", seconds=wall,
                       res_per_s=total / wall if wall else None, rsa_scale=args.reprof_rsa)
            notes.append(f"REPROF: {len(proteins)} calls (one per chain, each loading its networks), {wall:.2f} s "
                         f"wall; RSA from PREL, scale {args.reprof_rsa}")
        else:
            preds, load, wall, tasks = run_ss_predict(proteins, args.model, args.device, args.max_tokens)
            row = score(proteins, [p.p3.argmax(1) for p in preds],
                        [p.rsa for p in preds] if "rsa" in tasks else None)
            row.update(tool=f"ss-predict ({args.model})", seconds=wall, load_seconds=load,
                       res_per_s=total / wall if wall else None, tasks=list(tasks))
            notes.append(f"ss-predict: one Predictor on {args.device} ({args.threads} CPU thread"
                         f"{'s' if args.threads > 1 else ''}) over all chains, {wall:.2f} s predicting "
                         f"(res/s), model load {load:.2f} s apart; tasks {', '.join(tasks)}"
                         + ("" if "rsa" in tasks else " (no rsa head: RSA columns '-')"))
        rows.append(row)
    print(table(rows))
    print()
    counts = {k: next((r[k] for r in rows if k in r), None) for k in ("rsa_residues", "exposure_residues")}
    print(f"Q3 over {rows[0]['q3_residues']:,} labelled residues"
          + (f"; RSA PCC over {counts['rsa_residues']:,}" if counts["rsa_residues"] is not None else "")
          + (f"; 2-state (RSA >= 25%) over {counts['exposure_residues']:,}"
             if counts["exposure_residues"] is not None else "")
          + f". {what}.")
    for n in notes:
        print(f"- {n}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"data": what, "chains": len(proteins), "residues": total,
                                         "model": args.model, "device": args.device, "threads": args.threads,
                                         "rows": rows}, indent=1) + "\n")
        print(f"[bench_peers] wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
