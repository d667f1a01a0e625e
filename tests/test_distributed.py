"""Two gloo ranks on CPU follow the single-process run, and prediction parts of two ranks concatenate to one run."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from ss_predict.config.compose import load_config
from ss_predict.training.loop import train

TINY = ["data=tiny", "trainer=tiny", "trainer.max_epochs=2", "model=cnn_bigru", "model.kwargs.conv_channels=8",
        "model.kwargs.hidden=12", "model.kwargs.head=16", "model.kwargs.dropout=0", "model.kwargs.input_dropout=0"]


def torchrun(*args, env=None):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.data("tiny")
def test_two_ranks_match_one_rank(tmp_path, out_dir):
    train(load_config("train", [*TINY, f"run_dir={tmp_path}/one"]))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = torchrun("-m", "ss_predict.cli.train", *TINY, f"run_dir={tmp_path}/two", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("[ss-train] epoch 1:") == 1  # only rank 0 logs
    one = json.loads((tmp_path / "one/summary.json").read_text())["history"]
    two = json.loads((tmp_path / "two/summary.json").read_text())["history"]
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-4)
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-4)
        assert a["q3"] == b["q3"] or abs(a["q3"] - b["q3"]) < 0.05
    wa = torch.load(tmp_path / "one/last.pt", weights_only=True)["state_dict"]
    wb = torch.load(tmp_path / "two/last.pt", weights_only=True)["state_dict"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-5, rtol=1e-4)
    # resume the 2-rank run in a single process (a different number of ranks)
    train(load_config("train", [*TINY, f"run_dir={tmp_path}/two", "trainer.max_epochs=3", "trainer.resume=auto"]))
    assert json.loads((tmp_path / "two/summary.json").read_text())["history"][-1]["epoch"] == 3


@pytest.mark.data("casp12")
def test_two_rank_prediction_is_byte_identical(tmp_path, data_root, out_dir):
    from ss_predict.data.formats import read_any
    ckpt_dir = tmp_path / "m"
    train(load_config("train", [*TINY, f"run_dir={ckpt_dir}", "trainer.max_epochs=1"]))
    recs = read_any(data_root / "lift_ss_testsets/CASP12.txt")
    fa = tmp_path / "casp12.fasta"
    fa.write_text("".join(f">{p.id}\n{p.sequence}\n" for p in recs))
    args = [str(fa), "--model", str(ckpt_dir / "best.pt"), "-f", "json", "--max-tokens", "2000", "--threads", "1"]
    one = subprocess.run([sys.executable, "-m", "ss_predict", *args, "-o", str(tmp_path / "one.json")],
                         capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    two = torchrun("-m", "ss_predict", *args, "-o", str(tmp_path / "two.json"), "--window", "8")
    assert two.returncode == 0, two.stderr[-2000:]
    # each rank writes its own contiguous part (nothing gathered on rank 0); in rank order they are the whole run
    one8 = subprocess.run([sys.executable, "-m", "ss_predict", *args, "--window", "8"], capture_output=True)
    parts = [(tmp_path / f"two.{r}-of-2.json").read_bytes() for r in (1, 2)]
    assert all(parts) and b"".join(parts) == one8.stdout
    assert len(json.loads(b"".join(parts))) == 47
    assert not (tmp_path / "two.json").exists()
