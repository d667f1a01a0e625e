#!/usr/bin/env python
"""Speed and memory benchmarks of ss-predict (issue 8). Prints a table and writes JSON.

    python scripts/bench.py --threads 2 --out outputs/bench.json

Measures, for each model config (random weights: speed does not depend on them) and the bundled default:
  * inference residues/s on CPU (and CUDA when present), batched as ss-predict batches, on the CB513
    sequences, after warm-up, median of --repeats runs; on CUDA with bf16 autocast (as ss-predict runs)
    and in fp32;
  * training residues/s with the real loss/optimizer step (bf16 autocast on CUDA) and its peak GPU memory
    (full 65,536-residue batches); on CUDA also the peak GPU memory of inference on one 40,000-residue
    chain and on one full 262,144-residue batch;
and for the shipped CLI: peak resident memory on one 40,000-residue sequence, end-to-end wall time of
`ss-predict` on the 511 CB513 sequences (process start included), and start-up (import + model load).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ss_predict.data.batching import EncodedSet, length_batches
from ss_predict.config.compose import load_config
from ss_predict.data.formats import read_any
from ss_predict.inference.engine import autocast, predict_sets
from ss_predict.training.losses import ss_loss
from ss_predict.models import create_model
from ss_predict.checkpoint.loading import load_models
from ss_predict.core.records import Protein

DATA = Path(os.environ.get("SS_DATA_ROOT", Path(__file__).resolve().parents[2] / "shared" / "data"))
CB513 = DATA / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv"


def model_from_config(name: str) -> torch.nn.Module:
    cfg = load_config("train", [f"model={name}"])
    return create_model(cfg.model.name, 21, **cfg.model.kwargs)


@torch.inference_mode()
def predict_fp32(models, data: EncodedSet, device, max_tokens: int) -> None:
    """predict_sets without bf16 autocast (the fp32 CUDA column): same batches, probabilities to the host."""
    for idx in length_batches(data.lengths, max_tokens):
        b = data.batch(idx).to(device)
        probs = sum(torch.softmax(m(b.x, b.mask).float(), dim=-1) for m in models) / len(models)
        probs.cpu()


def infer_speed(models, data: EncodedSet, device, repeats: int, max_tokens: int, bf16: bool = True,
                tasks: bool = False) -> float:
    """Residues/s of predicting `data`; `tasks`: with every head's values, as ss-predict runs a multi-task model."""
    total = int(data.lengths.sum())
    def run(*args): return predict_sets(*args, tasks=tasks) if bf16 else predict_fp32(*args)
    run(models, data, device, max_tokens)  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        run(models, data, device, max_tokens)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return total / statistics.median(times)


def random_set(n: int, length: int, seed: int = 0) -> EncodedSet:
    """n random chains of `length` residues (memory depends on lengths only)."""
    rng = np.random.default_rng(seed)
    return EncodedSet([Protein(f"r{i}", "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), length)))
                       for i in range(n)], "onehot")


def infer_peak_mib(models, data: EncodedSet, device, max_tokens: int) -> float:
    """Peak GPU memory (MiB, weights included) of predicting `data` as ss-predict does (bf16 autocast)."""
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    predict_sets(models, data, device, max_tokens)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20


def train_speed(model, data: EncodedSet, device, steps: int, max_tokens: int) -> tuple[float, float]:
    model = model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seen, t0, done = 0, None, 0
    while done < steps + 3:
        for batch in data.train_batches(max_tokens, 512, rng):
            if done == 3:  # after warm-up
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0, seen = time.perf_counter(), 0
            b = batch.to(device, non_blocking=True)
            with autocast(device):
                logits = model(b.x, b.mask)
            loss, _ = ss_loss(logits, b.y8, b.y3)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += sum(batch.lengths)
            done += 1
            if done >= steps + 3:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
    return seen / (time.perf_counter() - t0), peak


_WRAP = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")


def cli(args: list[str], env=None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one ss-predict process.

    The process is started from a small wrapper interpreter: a child forked from this (large)
    benchmark process would count the parent's memory in its own peak.
    """
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _WRAP, sys.executable, "-m", "ss_predict", *args],
                       capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"ss-predict failed: {r.stderr}")
    return wall, int(r.stderr.strip().splitlines()[-1]) / 1024


def scaling(threads: int) -> dict:
    """Training residues/s of the same 1-epoch job with 1 rank and with 2 ranks (gloo on CPU, NCCL on GPUs)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        common = ["data=default", "++data.train.limit=400", "++data.valid.limit=50", "trainer.max_epochs=1",
                  "trainer.progress=false", "trainer.tensorboard=false", "model=cnn_bigru"]
        for n in (1, 2):
            env = dict(os.environ, OMP_NUM_THREADS=str(max(1, threads // n)))
            cmd = [sys.executable, "-m", "ss_predict.cli.train", *common, f"run_dir={tmp}/r{n}",
                   f"trainer.threads={max(1, threads // n)}"]
            if n > 1:
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                       *cmd[1:]]
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            hist = json.loads((Path(tmp) / f"r{n}" / "summary.json").read_text())["history"]
            out[f"ranks_{n}_train_res_s"] = hist[-1]["residues_per_s"]
    out["speedup_2_vs_1"] = out["ranks_2_train_res_s"] / out["ranks_1_train_res_s"]
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="phd,dilated_cnn,cnn_bigru")
    ap.add_argument("--devices", help="comma-separated, e.g. cuda (default: cpu, and cuda when present)")
    ap.add_argument("--limit", type=int, help="only the first N CB513 chains (quick runs)")
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--checkpoints", nargs="*", default=[],
                    help="also time CPU prediction with these trained checkpoints (NAME=PATH or PATH), 1 run each")
    ap.add_argument("--scaling", action="store_true",
                    help="also train 1 epoch on 400 chains with 1 and with 2 torchrun ranks and compare residues/s")
    ap.add_argument("--out", default="outputs/bench.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    proteins = read_any(CB513)[: a.limit]
    data = EncodedSet(proteins, "onehot")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    if a.devices:
        devices = [torch.device(d) for d in a.devices.split(",")]
    if any(d.type == "cuda" for d in devices):
        long_chain, full_batch = random_set(1, 40000), random_set(512, 512)  # 512 x 512 = one 262,144 batch
    rows = []
    for name in [m for m in a.models.split(",") if m] + (["default"] if a.models else []):
        if name == "default":  # the bundled model: every member of its ensemble, as ss-predict runs it
            models = load_models("default", torch.device("cpu")).models
        else:
            models = [model_from_config(name)]
        row = {"model": name, "members": len(models),
               "parameters": sum(p.numel() for m in models for p in m.parameters())}
        for dev in devices:
            ms = [m.to(dev).eval() for m in models]
            mt = 32768 if dev.type == "cpu" else 262144
            row[f"infer_res_s_{dev.type}"] = infer_speed(ms, data, dev, a.repeats, mt)
            if dev.type == "cuda":
                row["infer_res_s_cuda_fp32"] = infer_speed(ms, data, dev, a.repeats, mt, bf16=False)
                row["infer_peak_mib_cuda_40k"] = infer_peak_mib(ms, long_chain, dev, mt)
                row["infer_peak_mib_cuda_batch"] = infer_peak_mib(ms, full_batch, dev, mt)
                # training speed of one member (ensemble members train one at a time)
                row["train_res_s_cuda"], row["train_peak_mib_cuda"] = train_speed(
                    models[0], data, dev, a.train_steps, 65536)
        if "cuda" not in [d.type for d in devices]:
            row["train_res_s_cpu"], _ = train_speed(models[0], data, torch.device("cpu"), max(3, a.train_steps // 4), 16384)
        rows.append(row)
        print(json.dumps(row), flush=True)
    for spec in a.checkpoints:
        name, _, path = spec.rpartition("=")
        loaded = load_models(path, torch.device("cpu"))
        models = loaded.models
        row = {"model": name or Path(path).parent.name, "members": len(models),
               "parameters": sum(b.numel() for m in models for b in m.state_dict().values()),
               "infer_res_s_cpu": infer_speed(models, data, torch.device("cpu"), a.repeats, 32768,
                                              tasks=loaded.tasks != ("ss8",))}
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"machine": platform.processor() or platform.machine(), "threads": a.threads,
              "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
              "torch": torch.__version__, "models": rows}
    if not a.skip_cli:
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
        with tempfile.TemporaryDirectory() as tmp:
            rng = np.random.default_rng(0)
            long = Path(tmp) / "long.fasta"
            long.write_text(">long40k\n" + "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 40000)) + "\n")
            cb = Path(tmp) / "cb513.fasta"
            cb.write_text("".join(f">{p.id.replace('|', '_')}\n{p.sequence}\n" for p in proteins))
            tiny = Path(tmp) / "one.fasta"
            tiny.write_text(">one\nMKV\n")
            _, peak = cli([str(long), "--device", "cpu", "--threads", str(a.threads), "-o", f"{tmp}/l.ss2"], env)
            report["peak_rss_mib_40k"] = peak
            w, _ = cli([str(tiny), "--device", "cpu", "--threads", str(a.threads), "-o", f"{tmp}/o1.ss2"], env)
            report["startup_s"] = w
            w, _ = cli([str(cb), "--device", "cpu", "--threads", str(a.threads), "-o", f"{tmp}/cb.ss2"], env)
            report["cb513_end_to_end_s"] = w
            report["cb513_residues"] = int(data.lengths.sum())
    if a.scaling:
        report["scaling"] = scaling(a.threads)
    print()
    keys = sorted({k for r in rows for k in r} - {"model", "parameters", "members"})
    print(f"{'model':<14}{'params':>10}" + "".join(f"{k:>22}" for k in keys))
    for r in rows:
        print(f"{r['model']:<14}{r['parameters']:>10,}" + "".join(f"{r.get(k, float('nan')):>22,.0f}" for k in keys))
    for k in ("startup_s", "cb513_end_to_end_s", "peak_rss_mib_40k"):
        if k in report:
            print(f"{k}: {report[k]:.2f}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
