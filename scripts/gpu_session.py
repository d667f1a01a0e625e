#!/usr/bin/env python
"""The steps of scripts/gpu_session.sh (issue 17); call that script, which installs the wheels first.

environment -> CUDA tests (pytest -m cuda) -> bench.py -> the named recipes trained under a wall-clock budget
(trainer.max_minutes; a hard stop sends Ctrl-C, which saves last.pt) -> ss-eval of each best.pt -> OUT:
gpu_session.json (rewritten after every step, so a cut-off session still reports what it finished; each run with
the trainer config it composed to),
gpu_session.log and one <recipe>.pt per run. --dry-run: the same on CPU with tiny data (data=tiny trainer=tiny).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = ["cnn_bigru", "dilated_cnn", "phd", "default_model"]
BENCHMARKS = ["cb513", "ts115", "casp12", "casp10", "casp11"]
MAX_CHECKPOINTS = 6
_TINY_BIGRU = ["model.kwargs.conv_channels=8", "model.kwargs.hidden=12", "model.kwargs.head=16"]
DRY_MODELS = {"cnn_bigru": _TINY_BIGRU, "default_model": _TINY_BIGRU,  # the dry run's tiny versions
              "dilated_cnn": ["model.kwargs.channels=8", "model.kwargs.repeats=1"],
              "phd": ["model.kwargs.hidden=8", "model.kwargs.hidden2=8"]}
RESERVE_S = 75    # after training: scoring, copying, the JSON
CROSSING_S = 60   # room left for the epoch that crosses trainer.max_minutes before the hard stop


class Session:
    def __init__(self, out: Path, work: Path, deadline: float, dry: bool):
        self.out, self.work, self.deadline, self.dry = out, work, deadline, dry
        self.t0 = time.time()
        self.log = open(out / "gpu_session.log", "a", encoding="utf-8")
        self.report: dict = {"session": {"dry_run": dry, "out": str(out)}, "environment": {}, "cuda_tests": {},
                             "bench": {}, "runs": []}

    def say(self, msg: str) -> None:
        line = f"[gpu-session {time.time() - self.t0:5.0f}s] {msg}"
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def left(self) -> float:
        return self.deadline - time.time()

    def timeout(self, cap: float, keep: float) -> float:
        """A step's time limit: `cap`, less when fewer than `keep` seconds would remain for the later steps."""
        return cap if self.dry else max(30.0, min(cap, self.left() - keep))

    def attach(self, name: str, path: Path, rc, seconds: float, tail: int = 25) -> None:
        """Append a step's output to the log; echo its last lines when it failed."""
        text = path.read_text(errors="replace") if path.exists() else ""
        self.log.write(f"==== {name}: exit {rc}, {seconds:.0f} s ====\n{text[-200_000:]}\n")
        self.log.flush()
        if rc not in (0, None):
            print("\n".join(text.splitlines()[-tail:]), flush=True)

    def run(self, name: str, cmd: list[str], timeout: float) -> tuple[int | None, float]:
        """One step in a subprocess, its output in work/logs/name.log; rc None when it ran out of time."""
        path = self.work / "logs" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        t = time.time()
        with open(path, "w") as f:
            try:
                rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=max(5.0, timeout),
                                    cwd=REPO).returncode
            except subprocess.TimeoutExpired:
                rc = None
        seconds = time.time() - t
        self.attach(name, path, rc, seconds)
        return rc, seconds

    def save(self) -> None:
        self.report["session"]["seconds"] = round(time.time() - self.t0, 1)
        tmp = self.out / ".gpu_session.json.tmp"
        tmp.write_text(json.dumps(self.report, indent=1) + "\n")
        os.replace(tmp, self.out / "gpu_session.json")


def environment(s: Session) -> None:
    import numpy
    import torch
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           "numpy": numpy.__version__, "cpu_count": os.cpu_count(), "platform": platform.platform(),
           "gpu": None}
    for mod in ("hydra", "omegaconf", "Bio", "sklearn", "pytest"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception as e:  # reported, not fatal: the steps that need it fail visibly
            env[mod] = f"missing ({type(e).__name__})"
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env["gpu"] = {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                      "capability": f"{p.major}.{p.minor}", "count": torch.cuda.device_count(),
                      "bf16": torch.cuda.is_bf16_supported()}
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO)
        env["commit"] = git.stdout.strip() if git.returncode == 0 else None
    except OSError:  # no git on the machine
        env["commit"] = None
    s.report["environment"] = env
    s.say("environment: " + json.dumps({k: env[k] for k in ("python", "torch", "cuda", "gpu", "hydra", "Bio")}))


def cuda_tests(s: Session) -> None:
    xml = s.work / "cuda_tests.xml"
    rc, sec = s.run("cuda_tests", [sys.executable, "-m", "pytest", "-m", "cuda", "tests/test_cuda.py", "-q", "-rs",
                                   "-p", "no:cacheprovider", f"--junitxml={xml}"], s.timeout(150, 330))
    tests = []
    if xml.exists():
        for case in ET.parse(xml).getroot().iter("testcase"):
            outcome, msg = "passed", ""
            for kind in ("failure", "error", "skipped"):
                el = case.find(kind)
                if el is not None:
                    outcome, msg = {"failure": "failed"}.get(kind, kind), (el.get("message") or "")[:500]
            tests.append({"name": case.get("name"), "outcome": outcome, "seconds": float(case.get("time") or 0),
                          "message": msg})
    counts = {k: sum(t["outcome"] == k for t in tests) for k in ("passed", "failed", "error", "skipped")}
    s.report["cuda_tests"] = {"returncode": rc, "seconds": round(sec, 1), **counts, "tests": tests}
    s.say(f"cuda tests: {counts} (exit {rc}, {sec:.0f} s)")


def bench(s: Session) -> None:
    out = s.work / "bench.json"
    args = (["--devices", "cpu", "--models", "phd", "--limit", "6", "--repeats", "1", "--train-steps", "2",
             "--threads", "1"] if s.dry else
            ["--devices", "cuda", "--repeats", "3", "--train-steps", "20", "--threads", str(os.cpu_count() or 1)])
    rc, sec = s.run("bench", [sys.executable, "scripts/bench.py", "--skip-cli", *args, "--out", str(out)],
                    s.timeout(150, 240))
    s.report["bench"] = {"returncode": rc, "seconds": round(sec, 1),
                         **(json.loads(out.read_text()) if out.exists() else {})}
    s.say(f"bench: exit {rc}, {sec:.0f} s, {len(s.report['bench'].get('models', []))} rows")


def train_overrides(s: Session, recipe: str, minutes: float) -> list[str]:
    common = [f"experiment={recipe}", f"trainer.max_minutes={minutes:.3f}", "trainer.progress=false",
              "trainer.tensorboard=false", f"run_dir={s.work / 'runs' / recipe}"]
    where = (["data=tiny", "trainer=tiny", "trainer.threads=1", *DRY_MODELS.get(recipe, [])] if s.dry else
             ["trainer=gpu", "trainer.threads=2"])
    return [*common, *where]


def composed_trainer(overrides: list[str]) -> dict:
    """The trainer config these overrides compose to (what the run trains with: the preset's keys over the
    experiment's), recorded in gpu_session.json; an error line when they do not compose."""
    from omegaconf import OmegaConf

    from ss_predict.config.compose import load_config
    from ss_predict.errors import UserError

    try:
        return OmegaConf.to_container(load_config("train", overrides).trainer, resolve=True)
    except UserError as e:
        return {"error": str(e)}


def train_all(s: Session, recipes: list[str], parallel: int, minutes: float | None) -> dict:
    """Train the recipes (`parallel` at a time); Ctrl-C (last.pt saved) to those still running at the hard stop."""
    window = s.left() - RESERVE_S
    if minutes is None:
        minutes = 0.01 if s.dry else max(0.25, (window - CROSSING_S) / 60)
    hard_stop = time.time() + window
    s.say(f"training {recipes}: trainer.max_minutes={minutes:.2f}, hard stop in {window:.0f} s, {parallel} at a time")
    pending, running, done, trainer = list(recipes), {}, {}, {}
    while pending or running:
        while pending and len(running) < parallel:
            r = pending.pop(0)
            path = s.work / "logs" / f"train_{r}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            overrides = train_overrides(s, r, minutes)
            trainer[r] = composed_trainer(overrides)
            s.say(f"{r}: {' '.join(overrides)} -> trainer " + ", ".join(
                f"{k}={trainer[r].get(k)}" for k in ("max_epochs", "lr", "max_tokens", "eval_max_tokens", "crop")))
            f = open(path, "w")
            proc = subprocess.Popen([sys.executable, "-m", "ss_predict.cli.train", *overrides], stdout=f,
                                    stderr=subprocess.STDOUT, cwd=REPO)
            running[r] = {"proc": proc, "file": f, "start": time.time(), "log": path, "stopped": False}
        time.sleep(0.5)
        for r, j in list(running.items()):
            p = j["proc"]
            if p.poll() is None and time.time() > hard_stop and not j["stopped"]:
                j["stopped"] = True
                p.send_signal(signal.SIGINT)
                s.say(f"{r}: hard stop (Ctrl-C: saves last.pt)")
            elif p.poll() is None and j["stopped"] and time.time() > hard_stop + 30:
                p.kill()
            if p.poll() is not None:
                j["file"].close()
                done[r] = {"returncode": p.returncode, "seconds": time.time() - j["start"],
                           "hard_stopped": j["stopped"], "trainer": trainer[r]}
                s.attach(f"train {r}", j["log"], p.returncode, done[r]["seconds"])
                s.say(f"{r}: exit {p.returncode} after {done[r]['seconds']:.0f} s")
                del running[r]
    return {"max_minutes": minutes, "parallel": parallel, "runs": done}


def history(run_dir: Path) -> list[dict]:
    """Completed epochs: summary.json, or last.pt's training state when the run was stopped by Ctrl-C."""
    if (run_dir / "summary.json").exists():
        return json.loads((run_dir / "summary.json").read_text())["history"]
    if (run_dir / "last.pt").exists():
        import torch
        ts = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True).get("train_state") or {}
        return (ts.get("state") or {}).get("history", [])
    return []


def score(s: Session, recipes: list[str], parallel: int) -> dict:
    """ss-eval of every best.pt on the benchmarks (casp12 only in a dry run), `parallel` at a time."""
    sets = ["casp12"] if s.dry else BENCHMARKS
    jobs = [r for r in recipes if (s.work / "runs" / r / "best.pt").exists()]
    results = {}
    for i in range(0, len(jobs), parallel):
        wave = {}
        for r in jobs[i:i + parallel]:
            out, path = s.work / "eval" / f"{r}.json", s.work / "logs" / f"eval_{r}.log"
            cmd = [sys.executable, "-c", "from ss_predict.cli.eval import eval_main; eval_main()",
                   f"checkpoint={s.work / 'runs' / r / 'best.pt'}", f"data=[{','.join(sets)}]", f"output={out}",
                   "device=cpu" if s.dry else "device=auto"]
            f = open(path, "w")
            env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // parallel)))
            wave[r] = (subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO, env=env), f, path, out,
                       time.time())
        for r, (p, f, path, out, t) in wave.items():
            try:
                p.wait(timeout=max(5.0, s.left() - 15))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            f.close()
            s.attach(f"eval {r}", path, p.returncode, time.time() - t)
            results[r] = (json.loads(out.read_text())["results"] if p.returncode == 0 and out.exists()
                          else {"error": f"ss-eval exit {p.returncode}"})
    s.say(f"scored {sorted(results)} on {sets}")
    return results


def collect(s: Session, recipes: list[str], trained: dict, scores: dict) -> None:
    import torch
    copied = 0
    for r in recipes:
        d = s.work / "runs" / r
        hist = history(d)
        info = trained["runs"].get(r, {})
        stop = "finished"
        log = s.work / "logs" / f"train_{r}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if info.get("hard_stopped"):
            stop = "hard stop (Ctrl-C)"
        elif info.get("returncode") != 0:
            stop = "error"
        elif "time budget" in text:
            stop = "max_minutes"
        elif "early stop" in text:
            stop = "early stop"
        run = {"name": r, "returncode": info.get("returncode"), "minutes": round(info.get("seconds", 0) / 60, 2),
               "max_minutes": round(trained["max_minutes"], 3), "concurrent_runs": trained["parallel"],
               "stopped_by": stop, "epochs": len(hist), "trainer": info.get("trainer"),
               "train_residues_per_s": (sum(h["residues_per_s"] for h in hist) / len(hist)) if hist else None,
               "train_residues_per_s_last": hist[-1]["residues_per_s"] if hist else None,
               "checkpoint": None}
        best = d / "best.pt"
        if best.exists():
            m = torch.load(best, map_location="cpu", weights_only=True)
            run.update(best_epoch=m["epoch"], parameters=sum(v.numel() for v in m["state_dict"].values()),
                       valid_q3=m["metrics"].get("q3"), valid_q8=m["metrics"].get("q8"))
            if copied < MAX_CHECKPOINTS:
                tmp = s.out / f".{r}.pt.tmp"
                shutil.copyfile(best, tmp)
                os.replace(tmp, s.out / f"{r}.pt")
                run["checkpoint"] = f"{r}.pt"
                copied += 1
        res = scores.get(r, {})
        run["benchmarks"] = ({k: {"q3": v["q3"], "q8": v["q8"], "sov3": v["sov3"], "residues": v["residues_scored"]}
                              for k, v in res.items()} if "error" not in res else res)
        s.report["runs"].append(run)


def summary(s: Session) -> None:
    sets = ["casp12"] if s.dry else BENCHMARKS
    head = f"{'run':<15}{'epochs':>7}{'min':>6}{'res/s':>10}{'val Q3':>8}{'val Q8':>8}" + "".join(
        f"{k + ' Q3':>11}" for k in sets)
    lines = [head]
    for r in s.report["runs"]:
        b = r.get("benchmarks", {})
        lines.append(f"{r['name']:<15}{r['epochs']:>7}{r['minutes']:>6.1f}{r['train_residues_per_s'] or 0:>10,.0f}"
                     f"{r.get('valid_q3') or 0:>8.2f}{r.get('valid_q8') or 0:>8.2f}"
                     + "".join(f"{b.get(k, {}).get('q3', float('nan')):>11.2f}" for k in sets))
    s.say("results\n" + "\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="empty or new folder for the results")
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny data and models")
    ap.add_argument("--started", type=float, default=time.time(), help="session start (epoch seconds)")
    ap.add_argument("--budget", type=float, help="seconds from --started for everything (default 540; dry 290)")
    ap.add_argument("--recipes", default=",".join(RECIPES), help="configs/experiment names, comma-separated")
    ap.add_argument("--parallel", type=int, help="trainings (and scorings) at a time (default: all on a GPU, 2 on CPU)")
    ap.add_argument("--train-minutes", type=float, help="trainer.max_minutes (default: what the budget leaves)")
    ap.add_argument("--keep-work", action="store_true", help="keep the work folder (run folders, step logs)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    budget = a.budget or (290 if a.dry_run else 540)
    work = Path(tempfile.mkdtemp(prefix="gpu_session_"))
    s = Session(out, work, a.started + budget, a.dry_run)
    recipes = [r for r in a.recipes.split(",") if r]
    parallel = a.parallel or (2 if a.dry_run else len(recipes))
    s.report["session"].update(budget_s=budget, recipes=recipes, work=str(work))
    s.say(f"{'dry run (CPU, tiny data)' if a.dry_run else 'GPU session'}: out {out}, work {work}, "
          f"{s.left():.0f} s left")
    try:
        environment(s)
        s.save()
        cuda_tests(s)
        s.save()
        bench(s)
        s.save()
        trained = train_all(s, recipes, parallel, a.train_minutes)
        scores = score(s, recipes, parallel)
        collect(s, recipes, trained, scores)
        s.save()
        summary(s)
    finally:
        s.save()
        if not a.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        s.say(f"wrote {out}: {sorted(p.name for p in out.iterdir())}")
        s.log.close()
    failed = s.report["cuda_tests"].get("failed", 0) + s.report["cuda_tests"].get("error", 0)
    missing = [r["name"] for r in s.report["runs"] if not r.get("checkpoint")]
    if failed or missing or s.report["bench"].get("returncode") != 0:
        print(f"[gpu-session] incomplete: {failed} CUDA test(s) failed, bench exit "
              f"{s.report['bench'].get('returncode')}, runs without a checkpoint: {missing}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
