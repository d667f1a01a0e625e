import contextlib
import io
import json
import subprocess

import numpy as np
import pytest

from ss_predict.core.alphabet import SS3, SS8
from ss_predict.checkpoint.loading import bundled_models
from ss_predict.cli import predict_main
from ss_predict.config.compose import load_config
from ss_predict.training.loop import train

FASTA = ">p1 first\nMKVLAAGIVGLLLAAHSEEVKKLLEEAGIDTSK\n>p2\nGSHMSEQLTEEQIAEFKEAFSLFDKDGDGTITTKELGTVMRSL\n>p3\nACDW\n"


def run(*args):
    """ss-predict in this process (start-up is tested by the CLI tests): returncode, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            predict_main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    import os
    os.environ.setdefault("SS_OUTPUT_DIR", str(d))
    cfg = load_config("train", ["data=tiny", "trainer=tiny", f"run_dir={d}/run", "trainer.max_epochs=1",
                                "model=dilated_cnn", "model.kwargs.channels=8", "model.kwargs.repeats=1"])
    train(cfg)
    return d / "run" / "best.pt"


@pytest.fixture
def fasta(tmp_path):
    p = tmp_path / "in.fasta"
    p.write_text(FASTA)
    return p


def test_bundled_default_model_predicts(fasta, tmp_path):
    assert "default" in bundled_models()
    r = run(str(fasta), "-f", "json", "-o", str(tmp_path / "out.json"))
    assert r.returncode == 0, r.stderr
    recs = json.loads((tmp_path / "out.json").read_text())
    assert [x["id"] for x in recs] == ["p1", "p2", "p3"]
    for x in recs:
        n = len(x["sequence"])
        assert len(x["ss8"]) == len(x["ss3"]) == len(x["p8"]) == len(x["p3"]) == n
        assert set(x["ss8"]) <= set(SS8) and set(x["ss3"]) <= set(SS3)
        p8, p3 = np.array(x["p8"]), np.array(x["p3"])
        np.testing.assert_allclose(p8.sum(1), 1, atol=2e-3)
        np.testing.assert_allclose(p3.sum(1), 1, atol=2e-3)
        assert "".join(x["states3"][i] for i in p3.argmax(1)) == x["ss3"]


@pytest.mark.data("tiny")
def test_formats_and_determinism(fasta, tiny_ckpt, tmp_path):
    outs = {}
    for fmt in ("ss2", "horiz", "fasta", "csv", "json"):
        r = run(str(fasta), "--model", str(tiny_ckpt), "-f", fmt)
        assert r.returncode == 0, r.stderr
        outs[fmt] = r.stdout
        assert run(str(fasta), "--model", str(tiny_ckpt), "-f", fmt).stdout == r.stdout  # deterministic
    ss2 = outs["ss2"].splitlines()
    assert ss2[:3] == ["# record: p1", "# PSIPRED VFORMAT (PSIPRED V4.0)", ""]
    first = ss2[3].split()
    assert first[:2] == ["1", "M"] and first[2] in "CHE" and abs(sum(map(float, first[3:])) - 1) < 0.01
    # P(C) P(H) P(E) columns agree with the state column
    for line in ss2:
        if line.startswith("#") or not line:
            continue
        f = line.split()
        assert f[2] == "CHE"[int(np.argmax([float(v) for v in f[3:]]))]
    horiz = outs["horiz"]
    assert horiz.startswith("# record: p1\n# PSIPRED HFORMAT (PSIPRED V4.0)")
    assert "  AA: MKVLAAGIVGLLLAAHSEEVKKLLEEAGIDTSK" in horiz and "Conf: " in horiz
    fa = outs["fasta"].splitlines()
    assert fa[0] == ">p1" and len(fa[2]) == len(fa[1]) and set(fa[2]) <= set(SS8)
    rows = outs["csv"].splitlines()
    assert rows[0].startswith("id,position,residue,ss8,ss3,p8_C") and len(rows) == 1 + 33 + 43 + 4
    # one file per record into a folder
    r = run(str(fasta), "--model", str(tiny_ckpt), "-f", "ss2", "-o", str(tmp_path / "per") + "/")
    assert r.returncode == 0 and sorted(p.name for p in (tmp_path / "per").iterdir()) == ["p1.ss2", "p2.ss2", "p3.ss2"]
    assert (tmp_path / "per" / "p3.ss2").read_text() == (
        "# PSIPRED VFORMAT (PSIPRED V4.0)\n\n" + "\n".join(ss2[-4:]) + "\n")


@pytest.mark.parametrize("content,msg", [
    ("", "empty file"),
    (">a\nMKV\n>a\nMKV\n", "duplicate id 'a'"),
    (">a\nMK#V\n", "'a' position 3"),
    (">a\n\n", "'a' has an empty sequence"),
    (b"\x89PNG\x00\x00junk", "binary"),
])
def test_bad_input_one_line_exit_2_no_output(tmp_path, content, msg):
    f = tmp_path / "bad.fasta"
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out.ss2"
    r = run(str(f), "-o", str(out))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and msg in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_bad_model_file(fasta, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    for model, msg in ((str(junk), "not a readable ss-predict checkpoint"), (str(tmp_path / "none.pt"), "not found"),
                       ("nosuchmodel", "no bundled model")):
        r = run(str(fasta), "--model", model, "-o", str(tmp_path / "o.ss2"))
        assert r.returncode == 2 and msg in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "o.ss2").exists()


@pytest.mark.data("tiny")
def test_skip_invalid(tmp_path, tiny_ckpt):
    f = tmp_path / "mixed.fasta"
    f.write_text(">good\nMKVLA\n>bad\nMK1\n>good2\nACDEF\n")
    r = run(str(f), "--model", str(tiny_ckpt), "--skip-invalid", "-f", "fasta")
    assert r.returncode == 0
    assert [ln for ln in r.stdout.splitlines() if ln.startswith(">")] == [">good", ">good2"]
    assert "'bad' position 3" in r.stderr


@pytest.mark.data("tiny")
def test_consensus_and_profile_refusal(fasta, tiny_ckpt, tmp_path):
    r = run(str(fasta), "--model", f"{tiny_ckpt},{tiny_ckpt}", "-f", "json")
    single = run(str(fasta), "--model", str(tiny_ckpt), "-f", "json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["ss8"] == json.loads(single.stdout)[0]["ss8"]
    warn = run(str(fasta), "--model", str(tiny_ckpt), "--profiles", str(tmp_path), "-f", "fasta")
    assert warn.returncode == 0 and "ignored" in warn.stderr


@pytest.mark.data("casp12")
def test_bundled_model_is_really_trained(data_root):
    """The shipped weights are trained: far above chance (Q3 ~ 40%) on a benchmark it never saw."""
    import torch

    from ss_predict.evaluation.evaluate import evaluate_sets
    from ss_predict.data.formats import read_any
    from ss_predict.checkpoint.loading import load_models

    loaded = load_models("default", torch.device("cpu"))
    models, ckpt = loaded.models, loaded.checkpoint
    assert loaded.features == "onehot" and ckpt["data_manifest_sha256"]
    res = evaluate_sets(models, "onehot", {"casp12": read_any(data_root / "lift_ss_testsets/CASP12.txt")},
                        torch.device("cpu"), 32768)["casp12"]
    assert res["residues_scored"] == 12442
    assert res["q3"] > 68 and res["q8"] > 52


@pytest.mark.data("tiny")
def test_ensemble_file_equals_comma_average(fasta, tiny_ckpt, tmp_path):
    """One ensemble file predicts exactly what its members averaged on the command line predict."""
    import torch

    from ss_predict.checkpoint.format import load_checkpoint, members
    from ss_predict.checkpoint.loading import model_path, save_ensemble

    ens = tmp_path / "ens.pt"
    save_ensemble(ens, ["default", tiny_ckpt], metrics={"valid": {"q3": 1.0}})
    ckpt = load_checkpoint(ens)  # weights_only load of a plain nested dict
    n_default = len(members(load_checkpoint(model_path("default"))))
    assert len(ckpt["members"]) == n_default + 1 and ckpt["members"][-1]["model"]["name"] == "dilated_cnn"
    assert all("train_state" not in m for m in ckpt["members"])
    a = run(str(fasta), "--model", str(ens), "-f", "json")
    b = run(str(fasta), "--model", f"default,{tiny_ckpt}", "-f", "json")
    assert a.returncode == 0 and a.stdout == b.stdout
    one = run(str(fasta), "--model", str(tiny_ckpt), "-f", "json")
    assert json.loads(one.stdout)[0]["p8"] != json.loads(a.stdout)[0]["p8"]
    assert torch.load(ens, weights_only=True)["metrics"]["valid"]["q3"] == 1.0
