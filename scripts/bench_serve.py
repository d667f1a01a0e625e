#!/usr/bin/env python
"""ss-serve under load (issue 25): C concurrent clients, each sending one sequence per request, against
`ss-predict` on the same sequences as one FASTA file, in the same run. Loopback only, a bounded request count.

    python scripts/bench_serve.py --requests 240 --clients 12 --length 300 --threads 2 --repeats 3

The sequences are real: the first `--requests` distinct chains of at least `--length` residues of Zhou's
CullPDB-6133-filtered CSV (data root), cut to their first `--length` residues. Each repeat runs the CLI
(process start and model load included, as a user runs it), the Python API in this process (predictions and
their JSON text, without process start or HTTP: a stricter baseline) and then the server (started once, warmed up, outside the timing), so slow phases
of a shared machine hit all of them; the medians are reported, as residues per wall second and per CPU second
of the process doing the work (the CLI process, this process, the server process: robust to other load). Every server answer is checked against the
CLI's prediction of its sequence (3-state and 8-state strings). Prints a table; --out writes JSON.
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DATA = Path(os.environ.get("SS_DATA_ROOT", Path(__file__).resolve().parents[2] / "shared" / "data"))
CULLPDB = DATA / "zhou_cullpdb_csv" / "cb6133filtered.npy.csv"


def sequences(n: int, length: int) -> list[tuple[str, str]]:
    out, seen = [], set()
    with open(CULLPDB, newline="") as f:
        for row in csv.DictReader(f):
            seq = row["input"][:length]
            if len(seq) == length and seq not in seen:
                seen.add(seq)
                out.append((f"cull{row['id']}", seq))
                if len(out) == n:
                    return out
    sys.exit(f"only {len(out)} chains of >= {length} residues in {CULLPDB}")


def common_args(args) -> list[str]:
    return ["--device", args.device, *(["--threads", str(args.threads)] if args.threads else [])]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(fasta: Path, out: Path, args) -> tuple[float, float]:
    """(wall, CPU) seconds of one ss-predict run."""
    t0, c0 = time.perf_counter(), children_cpu()
    subprocess.run(["ss-predict", str(fasta), "-f", "json", "-o", str(out), "--quiet", *common_args(args)],
                   check=True)
    return time.perf_counter() - t0, children_cpu() - c0


def run_in_process(predictor, proteins) -> tuple[float, float]:
    """(wall, CPU) seconds of the Python API: predictions and their JSON text, as the server delivers them."""
    from ss_predict.prediction.renderers import render
    t0, c0 = time.perf_counter(), time.process_time()
    render(predictor.predict_proteins(proteins), "json")
    return time.perf_counter() - t0, time.process_time() - c0


class Server:
    def __init__(self, args, log: Path):
        self.log = open(log, "w")
        cmd = ["ss-serve", "--host", "127.0.0.1", "--port", "0", *common_args(args),
               "--max-queue", str(max(64, 2 * args.clients))]
        if not args.access_log:
            cmd.append("--no-access-log")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.PIPE, text=True)
        line = ""
        while "http://" not in line:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                sys.exit("ss-serve did not start")
        self.host, self.port = re.search(r"http://([\d.]+):(\d+)", line).groups()
        self._drain = threading.Thread(target=lambda: [self.log.write(x) for x in self.proc.stderr], daemon=True)
        self._drain.start()

    def cpu(self) -> float:
        """CPU seconds the server process has used (Linux /proc; nan elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def get(self, path: str) -> dict:
        c = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        c.request("GET", path)
        return json.loads(c.getresponse().read())

    def stop(self) -> int:
        self.proc.terminate()
        code = self.proc.wait(timeout=120)
        self._drain.join(5)
        self.log.close()
        return code


def load(server: Server, seqs: list[tuple[str, str]], clients: int) -> dict:
    """Every sequence once, as its own request, from `clients` threads with a keep-alive connection each."""
    nxt, lock = iter(range(len(seqs))), threading.Lock()
    latencies, answers, errors = [], {}, []

    def client():
        conn = http.client.HTTPConnection(server.host, int(server.port), timeout=120)
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                break
            rid, seq = seqs[i]
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/api/predict", body=f">{rid}\n{seq}\n".encode(),
                             headers={"Content-Type": "text/plain"})
                r = conn.getresponse()
                body = r.read()
            except OSError as e:
                errors.append(f"{rid}: {e}")
                conn = http.client.HTTPConnection(server.host, int(server.port), timeout=120)
                continue
            latencies.append(time.perf_counter() - t0)
            if r.status != 200:
                errors.append(f"{rid}: HTTP {r.status} {body[:200]!r}")
            else:
                answers[rid] = json.loads(body)[0]
        conn.close()

    before = server.get("/api/health")["served"]
    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0, cpu0 = time.perf_counter(), server.cpu()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, server.cpu() - cpu0
    after = server.get("/api/health")["served"]
    lat = sorted(latencies)
    runs = after["runs"] - before["runs"]
    return {"wall_s": wall, "cpu_s": cpu, "p50_ms": 1000 * lat[len(lat) // 2], "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
            "errors": errors, "answers": answers, "runs": runs,
            "requests_per_run": (after["requests"] - before["requests"]) / max(runs, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=240, help="sequences, one request each (default 240)")
    ap.add_argument("--clients", type=int, default=12, help="concurrent clients (default 12)")
    ap.add_argument("--length", type=int, default=300, help="residues per sequence (default 300)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, help="model CPU threads, CLI and server alike (default: PyTorch's)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--access-log", action="store_true", help="keep the server's per-request log line on")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    if not 1 <= args.requests <= 5000 or not 1 <= args.clients <= 64:
        sys.exit("--requests 1..5000, --clients 1..64 (a bounded load)")

    import torch

    import ss_predict
    if args.threads:
        torch.set_num_threads(args.threads)
    seqs = sequences(args.requests, args.length)
    residues = args.requests * args.length
    work = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    fasta = work / "in.fasta"
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in seqs))
    predictor = ss_predict.Predictor(device=args.device)
    proteins = predictor.read(str(fasta))

    server = Server(args, work / "server.log")
    warm = load(server, seqs[: 2 * args.clients], args.clients)  # first calls: allocator, thread pools
    if warm["errors"]:
        sys.exit(f"warm-up failed: {warm['errors'][:3]}")
    cli_s, model_s, serve = [], [], []
    for rep in range(args.repeats):
        cli_s.append(run_cli(fasta, work / "cli.json", args))
        model_s.append(run_in_process(predictor, proteins))
        serve.append(load(server, seqs, args.clients))
        print(f"repeat {rep + 1}: cli {residues / cli_s[-1][0]:,.0f} res/s, in-process "
              f"{residues / model_s[-1][0]:,.0f}, server {residues / serve[-1]['wall_s']:,.0f}", file=sys.stderr)
    exit_code = server.stop()

    cli = {r["id"]: r for r in json.loads((work / "cli.json").read_text())}
    mismatched = sorted({rid for s in serve for rid, a in s["answers"].items()
                         if (a["ss3"], a["ss8"]) != (cli[rid]["ss3"], cli[rid]["ss8"])})
    med = statistics.median
    res = {
        "requests": args.requests, "clients": args.clients, "length": args.length, "device": args.device,
        "threads": args.threads or torch.get_num_threads(), "repeats": args.repeats, "access_log": args.access_log,
        "cli_res_per_s": residues / med(w for w, _ in cli_s),
        "in_process_res_per_s": residues / med(w for w, _ in model_s),
        "server_res_per_s": residues / med(s["wall_s"] for s in serve),
        "cli_res_per_cpu_s": residues / med(c for _, c in cli_s),
        "in_process_res_per_cpu_s": residues / med(c for _, c in model_s),
        "server_res_per_cpu_s": residues / med(s["cpu_s"] for s in serve),
        "server_p50_ms": med(s["p50_ms"] for s in serve), "server_p99_ms": med(s["p99_ms"] for s in serve),
        "errors": sum(len(s["errors"]) for s in serve), "answers_unlike_cli": len(mismatched),
        "requests_per_run": med(s["requests_per_run"] for s in serve), "server_exit_code_on_sigterm": exit_code,
        "cpu_cores": os.cpu_count(), "load_average": os.getloadavg()[0],
    }
    res["ratio_vs_cli"] = res["server_res_per_s"] / res["cli_res_per_s"]
    res["ratio_vs_in_process"] = res["server_res_per_s"] / res["in_process_res_per_s"]
    print(f"{args.requests} sequences x {args.length} residues, {args.clients} clients, {args.device}, "
          f"{res['threads']} thread(s), median of {args.repeats}")
    print(f"{'':47s} {'res/s':>9s} {'res/CPU-s':>10s}")
    for label, key in [("ss-predict (one file, process start included)", "cli"),
                       ("Python API (one list + JSON text, no process)", "in_process"),
                       (f"ss-serve ({args.clients} clients, 1 sequence/request)", "server")]:
        print(f"  {label:45s} {res[key + '_res_per_s']:9,.0f} {res[key + '_res_per_cpu_s']:10,.0f}")
    print(f"  ss-serve / ss-predict {res['ratio_vs_cli']:.2f}x, ss-serve / in-process {res['ratio_vs_in_process']:.2f}x "
          f"(per CPU-second: {res['server_res_per_cpu_s'] / res['cli_res_per_cpu_s']:.2f}x, "
          f"{res['server_res_per_cpu_s'] / res['in_process_res_per_cpu_s']:.2f}x)")
    print(f"  latency p50 {res['server_p50_ms']:.0f} ms, p99 {res['server_p99_ms']:.0f} ms; "
          f"{res['requests_per_run']:.1f} requests per model run; errors {res['errors']}; "
          f"answers unlike ss-predict's {res['answers_unlike_cli']}; exit code after SIGTERM {exit_code}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
