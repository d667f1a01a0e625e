"""Calibration: ECE against a brute-force count, temperature fitting on the validation split only,
the temperature applied at prediction without moving any 8-state argmax, and ss-eval's plots."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_checkpoint
from ss_predict.api import Predictor
from ss_predict.inference.calibration import apply_numpy, fit_temperature
from ss_predict.evaluation.calibrate import choose_temperatures
from ss_predict.data.formats import read_any
from ss_predict.data.formats.processed import to_line, write_processed
from ss_predict.inference.calibration import to_ss3
from ss_predict.evaluation.metrics import calibration, reliability
from ss_predict.core.records import Protein

REPO = Path(__file__).resolve().parents[1]


def brute_ece(conf, correct, n_bins=15):
    total, n = 0.0, len(conf)
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = [i for i in range(n) if (lo < conf[i] <= hi) or (b == 0 and conf[i] == 0)]
        if members:
            acc = sum(correct[i] for i in members) / len(members)
            mean = sum(conf[i] for i in members) / len(members)
            total += len(members) / n * abs(acc - mean)
    return total


def test_ece_matches_a_brute_force_count():
    rng = np.random.default_rng(3)
    conf = list(rng.uniform(0.1, 1.0, 300)) + [k / 15 for k in range(16)] + [1.0, 0.0]  # bin edges included
    correct = list(rng.uniform(size=len(conf)) < np.asarray(conf) * 0.9)
    rel = reliability(np.asarray(conf), np.asarray(correct))
    assert rel["ece"] == pytest.approx(brute_ece(conf, correct), abs=1e-12)
    assert rel["residues"] == len(conf) and sum(b["residues"] for b in rel["bins"]) == len(conf)
    assert len(rel["bins"]) == 15


def test_calibration_counts_labelled_residues_only():
    # residue 3 is unscored in 8 states (label -1); a 3-state-only chain counts for 3 states only
    p8 = np.array([[0.7, 0.1, 0.1, 0.02, 0.02, 0.02, 0.02, 0.02]] * 2 + [[0.1, 0.1, 0.6, 0.04, 0.04, 0.04, 0.04,
                                                                           0.04]] * 2)
    a = Protein("a", "ACDE", ss8=np.array([0, 2, 2, -1], dtype=np.int8))
    b = Protein("b", "ACDE", ss3=np.array([2, 2, 1, 1], dtype=np.int8))
    c = calibration([a, b], [p8, p8], [to_ss3(p8), to_ss3(p8)])
    assert c["reliability8"]["residues"] == 3 and c["reliability3"]["residues"] == 7
    top8, ok8 = [0.7, 0.7, 0.6], [True, False, True]
    assert c["ece8"] == pytest.approx(brute_ece(top8, ok8))
    q3 = to_ss3(p8)
    conf3 = list(q3.max(1)[:3]) + list(q3.max(1))
    ok3 = list(q3.argmax(1)[:3] == a.ss3[:3]) + list(q3.argmax(1) == b.ss3)
    assert c["ece3"] == pytest.approx(brute_ece(conf3, ok3), rel=1e-6)


def test_fit_recovers_the_temperature_of_overconfident_probabilities():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20_000, 8)) * 1.5
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(8, p=row) for row in p], dtype=np.int8)  # calibrated by construction
    sharp = apply_numpy(p, 0.5)  # twice as sharp: overconfident
    assert fit_temperature([sharp], [labels]) == pytest.approx(2.0, rel=0.05)
    assert fit_temperature([p], [labels]) == pytest.approx(1.0, rel=0.05)
    assert (apply_numpy(sharp, 2.0).argmax(1) == sharp.argmax(1)).all()


def test_a_temperature_that_lowers_the_nll_but_raises_the_ece_is_not_kept():
    # top probability 0.6 and right 60% of the time (ECE 0 as it stands), but the runner-up (0.3) is the label in
    # the other 40%: sharpening moves the tail's mass to both and lowers the NLL, yet overstates the top one
    rng = np.random.default_rng(1)
    n = 5_000
    p = np.tile(np.array([0.6, 0.3] + [0.1 / 6] * 6, dtype=np.float32), (n, 1))
    y = np.where(np.arange(n) % 5 < 3, 0, 1).astype(np.int8)
    rng.shuffle(y)
    prots = [Protein("x", "A" * n, ss8=y)]
    got = choose_temperatures(prots, [p])
    assert got["fitted"]["temperature"] < 0.95 and got["fitted"]["nll8"] < got["before"]["nll8"]
    assert got["fitted"]["ece8"] > got["before"]["ece8"]
    assert got["temperature"] == 1.0 and got["after"]["ece8"] == got["before"]["ece8"]
    # an overconfident model: the fitted temperature lowers both, and is kept
    sharp = apply_numpy(p, 0.5)
    got = choose_temperatures(prots, [sharp])
    assert got["temperature"] == got["fitted"]["temperature"] > 1.2 and got["after"]["ece8"] < got["before"]["ece8"]


@pytest.fixture(scope="module")
def built(tmp_path_factory, data_root):
    """A tiny "built set" (train and valid splits of 40 real labelled chains; which chains does not matter
    for these mechanics), its manifest, and a tiny random model that names this build as its training data."""
    d = tmp_path_factory.mktemp("build")
    chains = read_any(data_root / "ps4_netsurfp_cb513_ts115" / "TS115_HHblits.csv", "netsurfp_csv")[:40]
    lines = [to_line(p, "test", "valid" if i % 4 == 0 else "train") for i, p in enumerate(chains)]
    data = d / "data" / "train_set.jsonl.gz"
    write_processed(lines, data)
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    (d / "data" / "train_set.manifest.json").write_text(json.dumps({"sha256": sha}))
    # a sharp random model: overconfident, so the fitted T is clearly above 1
    ck = tiny_checkpoint(d / "tiny.pt", sharpen=6, manifest_sha256=sha)
    return {"dir": d, "ckpt": ck, "valid": [p for i, p in enumerate(chains) if i % 4 == 0], "sha": sha}


def calibrate(*args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "calibrate.py"), *map(str, args)],
                          capture_output=True, text=True)


def test_temperature_is_fitted_on_validation_only_and_keeps_the_argmax(built, tmp_path):
    out = tmp_path / "cal.pt"
    r = calibrate(built["ckpt"], "--build", built["dir"], "-o", out)
    assert r.returncode == 0, r.stderr
    before = torch.load(built["ckpt"], weights_only=True)
    after = torch.load(out, weights_only=True)
    cal = after["calibration"]
    assert cal["fitted_on"]["data"] == "valid" and cal["fitted_on"]["chains"] == len(built["valid"])
    assert cal["fitted_on"]["manifest_sha256"] == built["sha"]
    assert set(before["state_dict"]) == set(after["state_dict"])
    assert all(torch.equal(before["state_dict"][k], after["state_dict"][k]) for k in before["state_dict"])
    assert {k: v for k, v in after.items() if k != "calibration"}.keys() == before.keys()
    # the temperature is the one the validation chains alone give
    raw = Predictor(str(built["ckpt"]), "cpu").predict([(p.id, p.sequence) for p in built["valid"]])
    assert cal["temperature"] == pytest.approx(fit_temperature([p.p8 for p in raw], [p.ss8 for p in built["valid"]]),
                                               abs=2e-4)
    assert cal["temperature3"] == pytest.approx(fit_temperature([to_ss3(p.p8) for p in raw],
                                                                [p.ss3 for p in built["valid"]]), abs=2e-4)
    assert cal["temperature"] > 1.2 and cal["after"]["nll8"] < cal["before"]["nll8"]
    assert cal["after"]["nll3"] <= cal["before"]["nll3"]
    # applied at prediction: same 8- and 3-state argmax, probabilities softmax(log p / T), softmax(log p3 / T3)
    seqs = [(p.id, p.sequence) for p in built["valid"][:5]]
    plain, scaled = Predictor(str(built["ckpt"]), "cpu").predict(seqs), Predictor(str(out), "cpu").predict(seqs)
    for a, b in zip(plain, scaled):
        assert a.ss8 == b.ss8
        np.testing.assert_allclose(b.p8, apply_numpy(a.p8, cal["temperature"]), atol=1e-5)
        assert b.p8.max(1).mean() < a.p8.max(1).mean()  # less confident
        np.testing.assert_allclose(b.p3, apply_numpy(to_ss3(a.p8), cal["temperature3"]), atol=1e-5)
        assert b.ss3 == a.ss3  # neither temperature moves a 3-state argmax
    r = calibrate(built["ckpt"], "--build", built["dir"], "-o", out)
    assert r.returncode == 2 and "exists" in r.stderr and r.stderr.count("\n") == 1


def test_calibration_refuses_a_split_of_another_build(built, tmp_path):
    other = tmp_path / "other"
    (other / "data").mkdir(parents=True)
    for name in ("train_set.jsonl.gz", "train_set.manifest.json"):
        (other / "data" / name).write_bytes((built["dir"] / "data" / name).read_bytes())
    (other / "data" / "train_set.manifest.json").write_text(json.dumps({"sha256": "0" * 64}))
    r = calibrate(built["ckpt"], "--build", other, "-o", tmp_path / "x.pt")
    assert r.returncode == 2 and "not from the build" in r.stderr and r.stderr.count("\n") == 1
    r = calibrate(built["ckpt"], "--build", tmp_path / "nothing", "-o", tmp_path / "x.pt")
    assert r.returncode == 2 and "ss-data build" in r.stderr
    assert not (tmp_path / "x.pt").exists()


def test_ss_eval_writes_ece_and_plots_unless_switched_off(built, tmp_path, out_dir):
    pytest.importorskip("matplotlib", reason="ss-eval plots need matplotlib (the plot extra)")

    def ss_eval(*args):
        return subprocess.run([sys.executable, "-c", "from ss_predict.cli import eval_main; eval_main()",
                               f"checkpoint={built['ckpt']}", "data=casp12", *args], capture_output=True, text=True)
    r = ss_eval(f"output={tmp_path}/e.json")
    assert r.returncode == 0, r.stderr
    assert "ECE3" in r.stdout and "ECE8" in r.stdout
    res = json.loads((tmp_path / "e.json").read_text())["results"]["casp12"]
    assert 0 <= res["calibration"]["ece3"] <= 1 and len(res["calibration"]["reliability8"]["bins"]) == 15
    assert len(res["per_chain"]["q3"]) == res["proteins"]
    pngs = sorted(p.name for p in tmp_path.glob("e.casp12.*.png"))
    assert pngs == [f"e.casp12.{k}.png" for k in ("confusion", "f1", "q3_length", "reliability")]
    assert all((tmp_path / n).read_bytes()[:4] == b"\x89PNG" for n in pngs)
    r = ss_eval(f"output={tmp_path}/quiet.json", "plots=false")
    assert r.returncode == 0, r.stderr
    assert not list(tmp_path.glob("quiet.*.png"))
