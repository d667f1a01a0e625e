"""scripts/gpu_session.sh --dry-run: the lent-GPU session's whole sequence on CPU with tiny data and models."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from ss_predict.checkpoint.format import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
RECIPES = ["cnn_bigru", "dilated_cnn", "phd", "default_model"]


def session(out: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/gpu_session.sh", "--dry-run", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.data("tiny", "casp12")
def test_dry_run_reports_every_step_and_never_overwrites(tmp_path, data_root, out_dir):
    env = dict(os.environ, SS_DATA_ROOT=str(data_root), SS_OUTPUT_DIR=str(out_dir))
    out = tmp_path / "session"
    r = session(out, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.splitlines()[0].startswith("python ")  # versions first
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(["gpu_session.json", "gpu_session.log", *(f"{n}.pt" for n in RECIPES)])
    rep = json.loads((out / "gpu_session.json").read_text())
    assert {"environment", "cuda_tests", "bench", "runs"} <= set(rep)
    assert rep["environment"]["torch"] and rep["environment"]["hydra"].startswith("1.3")
    tests = rep["cuda_tests"]  # no GPU here: every CUDA test is collected and skipped
    assert tests["returncode"] == 0 and tests["skipped"] == len(tests["tests"]) >= 10 and not tests["failed"]
    assert [m["model"] for m in rep["bench"]["models"]] == ["phd", "default"]
    assert all(m["infer_res_s_cpu"] > 0 and m["train_res_s_cpu"] > 0 for m in rep["bench"]["models"])
    assert [run["name"] for run in rep["runs"]] == RECIPES
    for run in rep["runs"]:
        assert run["returncode"] == 0 and run["stopped_by"] == "max_minutes" and run["epochs"] == 1
        t = run["trainer"]  # the composed trainer config: trainer=tiny's keys over the experiment's
        assert (t["max_tokens"], t["crop"], t["max_epochs"], t["threads"], t["device"]) == (2048, 128, 2, 1, "cpu")
        assert t["max_minutes"] == 0.01 and t["lr"] == (3e-3 if run["name"] == "phd" else 2e-3)
        assert t["ema_decay"] == 0.999  # every recipe sets it, tiny does not
        assert run["train_residues_per_s"] > 0 and 0 < run["valid_q3"] < 100 and 0 <= run["valid_q8"] < 100
        casp12 = run["benchmarks"]["casp12"]
        assert casp12["residues"] == 12442 and 0 < casp12["q3"] < 100
        ckpt = load_checkpoint(out / run["checkpoint"])
        assert ckpt["epoch"] == 1 and ckpt["metrics"]["q3"] == run["valid_q3"]
    assert load_checkpoint(out / "phd.pt")["model"]["name"] == "phd"
    log = (out / "gpu_session.log").read_text()
    assert "==== bench: exit 0" in log and "time budget" in log
    # a second session into the same folder is refused in one line, the first one's files untouched
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = session(out, env)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and str(out) in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
