"""Classical window classifiers and the next-step conditioned CNN on small real subsets."""
import itertools
import json
import subprocess
import sys

import pytest
import torch

from ss_predict.checkpoint.format import load_checkpoint
from ss_predict.checkpoint.loading import build_model
from ss_predict.config.compose import load_config
from ss_predict.models import create_model
from ss_predict.training.loop import train

CLASSICAL = ["gnb", "tree", "linear_svm", "rbf_svc", "knn"]


@pytest.mark.data("tiny")
@pytest.mark.parametrize("name", CLASSICAL)
def test_classical_fit_save_predict(name, tmp_path, out_dir):
    run = tmp_path / name
    metrics = train(load_config("train", ["data=tiny", "trainer=tiny", f"model={name}", f"run_dir={run}",
                                          "model.kwargs.max_windows=1500"]))
    assert metrics["train_windows"] == 1500 and 20 < metrics["q3"] < 90
    ckpt = load_checkpoint(run / "best.pt")  # weights_only: exported arrays, no pickle
    model = build_model(ckpt)
    x = torch.zeros(2, 40, 21)
    x[0, torch.arange(40), torch.randint(0, 20, (40,))] = 1
    x[1, :25] = x[0, :25]
    mask = x.sum(-1) > 0
    with torch.no_grad():
        out = model(x, mask)
        alone = model(x[1:, :25], mask[1:, :25])
    assert out.shape == (2, 40, 8)
    torch.testing.assert_close(out[1, :25], alone[0])  # padding does not leak into windows


@pytest.mark.data("tiny")
def test_tree_min_samples_split_is_tunable(tmp_path, out_dir):
    sizes = {}
    for mss in (2, 400):
        train(load_config("train", ["data=tiny", "trainer=tiny", "model=tree", f"run_dir={tmp_path}/{mss}",
                                    "model.kwargs.max_windows=1500", f"model.kwargs.min_samples_split={mss}"]))
        sizes[mss] = load_checkpoint(tmp_path / str(mss) / "best.pt")["state_dict"]["left"].numel()
    assert sizes[2] > sizes[400]


def _tiny_nextstep():
    torch.manual_seed(0)
    return create_model("nextstep_cnn", 21, channels=8, hidden=8, state_dim=4, layers=1).eval()


def test_nextstep_beam_search_matches_brute_force():
    m = _tiny_nextstep()
    x = torch.zeros(1, 3, 21)
    x[0, [0, 1, 2], [3, 5, 7]] = 1
    mask = torch.ones(1, 3, dtype=torch.bool)
    h = m.encode(x, mask)

    def score(path):
        y = torch.tensor([path])
        return torch.log_softmax(m(x, mask, y8=y), -1)[0, torch.arange(3), y[0]].sum().item()

    best = max(itertools.product(range(8), repeat=3), key=score)
    exact, _ = m.decode(h, beam=64)  # 8^(L-1) beams keep every prefix: exact
    assert tuple(exact[0].tolist()) == best
    greedy, logits = m.decode(h, beam=1)
    prev, manual = 8, []
    for t in range(3):  # greedy = argmax at each step given the previous argmax
        lg = m.step(h[:, t], torch.tensor([prev]))
        prev = int(lg.argmax())
        manual.append(prev)
    assert greedy[0].tolist() == manual
    assert score(tuple(exact[0].tolist())) >= score(tuple(greedy[0].tolist()))


@pytest.mark.data("tiny")
def test_nextstep_trains_with_teacher_forcing_and_predicts(tmp_path, out_dir):
    run = tmp_path / "ns"
    train(load_config("train", ["data=tiny", "trainer=tiny", "model=nextstep_cnn", "model.kwargs.channels=8",
                                "model.kwargs.hidden=8", f"run_dir={run}", "trainer.max_epochs=2"]))
    hist = json.loads((run / "summary.json").read_text())["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    fa = tmp_path / "x.fasta"
    fa.write_text(">a\nMKVLAAGIVGLLLAAHSEEVKKLL\n>b\nGSHM\n")
    r = subprocess.run([sys.executable, "-m", "ss_predict", str(fa), "--model", str(run / "best.pt"), "-f", "json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    recs = json.loads(r.stdout)
    assert [len(x["ss8"]) for x in recs] == [24, 4]


@pytest.mark.data("tiny", "casp12")
def test_consensus_eval(tmp_path, out_dir):
    for name in ("gnb", "linear_svm"):
        train(load_config("train", ["data=tiny", "trainer=tiny", f"model={name}", f"run_dir={tmp_path}/{name}",
                                    "model.kwargs.max_windows=1000"]))
    out = tmp_path / "e.json"
    r = subprocess.run([sys.executable, "-c", "from ss_predict.cli import eval_main; eval_main()",
                        f"checkpoint=[{tmp_path}/gnb/best.pt,{tmp_path}/linear_svm/best.pt]", "data=casp12",
                        f"output={out}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert len(rep["checkpoints"]) == 2 and rep["results"]["casp12"]["residues_scored"] == 12442
