"""Checkpoint files: every damaged, foreign or non-finite file or field is one line naming the file and the
field (in ss-predict, ss-eval, resuming ss-train and the loader), ensembles, the bundled weights."""
import errno
import json
import os

import pytest
import torch

from conftest import (FIX, TINY, error_of, one_line_error, predict_child, refused, run_cli, tiny_checkpoint,
                      writes_fail_past)
from ss_predict.checkpoint.format import load_checkpoint, members
from ss_predict.checkpoint.loading import WEIGHTS, model_path, save_ensemble
from ss_predict.cli import eval_main, predict_main, train_main
from ss_predict.errors import UserError


def _drop(d, *keys):
    for k in keys[:-1]:
        d = d[k]
    del d[keys[-1]]


def _damaged(path, edit):
    ck = torch.load(tiny_checkpoint(path.with_name("ok.pt")), weights_only=True)
    edit(ck)
    torch.save(ck, path)
    return path


@pytest.mark.parametrize("damage, words", [
    (lambda c: _drop(c, "model", "kwargs"), "field 'model.kwargs' is missing"),
    (lambda c: _drop(c, "features"), "field 'features' is missing"),
    (lambda c: c.update(features={"name": "onehot", "n_features": 99}), "field 'features.n_features' is 99"),
    (lambda c: c["features"].update(name="nonsense"), "field 'features.name' is 'nonsense'"),
    (lambda c: c.update(model=["dilated_cnn"]), "field 'model' is list"),
    (lambda c: c.update(state_dict=[1, 2]), "field 'state_dict' is list"),
    (lambda c: c["state_dict"].update(extra="x"), "entry 'extra' is str, not a tensor"),
    (lambda c: c["model"]["kwargs"].update(channels="wide"), "does not build model 'dilated_cnn'"),
    (lambda c: c["model"]["kwargs"].update(colour=3), "field 'model.kwargs' does not build model 'dilated_cnn'"),
    (lambda c: c["model"].update(name="resnet"), "field 'model.name' is 'resnet', not a model"),
    (lambda c: _drop(c, "alphabet"), "field 'alphabet' is missing"),
    (lambda c: next(iter(c["state_dict"].values())).fill_(float("nan")), "non-finite value(s) (NaN or infinity)"),
    (lambda c: list(c["state_dict"].values())[-1].fill_(float("inf")), "non-finite value(s)"),
    (lambda c: c.update(calibration={"temperature": "hot"}), "'calibration.temperature' is 'hot'"),
    (lambda c: c.update(calibration={"temperature": -1.0}), "'calibration.temperature' is -1.0"),  # flips argmax
    (lambda c: c.update(calibration={"temperature3": 0.0}), "'calibration.temperature3' is 0.0"),
    (lambda c: c.update(calibration={"temperature": float("nan")}), "is nan"),
    (lambda c: c.update(calibration={"temperature": None}), "is None"),
    (lambda c: c.update(calibration=[1, 2]), "'calibration' is list"),
    (lambda c: c["state_dict"].update({1: torch.zeros(2)}), "has the key 1"),
    (lambda c: c.update(state_dict={}), "missing stem.weight"),
    (lambda c: c["state_dict"].update({"extra.weight": torch.zeros(2)}), "unexpected extra.weight"),
    (lambda c: c.update(tasks=["rsa"]), "field 'tasks' is"),  # no ss8
    (lambda c: c.update(tasks=["ss8", "colour"]), "field 'tasks' is"),
    (lambda c: c.update(tasks=["ss8", "rsa"]), "checkpoint weights do not fit model"),  # heads it has no weights for
])
def test_damaged_checkpoint_is_one_line_in_predict_and_eval(tmp_path, cwd, out_dir, capsys, damage, words):
    bad = _damaged(tmp_path / "bad.pt", damage)
    err = error_of(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-m", str(bad), "-o", "out.ss2")
    assert str(bad) in err and words in err and not (cwd / "out.ss2").exists()
    err = error_of(eval_main, capsys, f"checkpoint={bad}", "data=casp12")
    assert str(bad) in err and words in err


def test_good_calibration_is_accepted(tmp_path, capsys):
    ok = _damaged(tmp_path / "cal.pt", lambda c: c.update(calibration={"temperature": 1.5, "temperature3": 0.8}))
    assert run_cli(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-m", str(ok))[0] == 0


def test_a_checkpoint_that_cannot_be_written_leaves_the_last_good_one(tmp_path, monkeypatch):
    """A full disk while saving: one UserError naming the file (torch's own writer said "unexpected pos" in a
    37-line traceback), the checkpoint there before intact, no temporary file left; the same where the disk
    reports it only when the data are synced (ENOSPC from fsync, as NFS and delayed allocation do)."""
    path = tiny_checkpoint(tmp_path / "best.pt")
    before = path.read_bytes()
    with writes_fail_past(len(before) // 2), pytest.raises(UserError) as e:
        tiny_checkpoint(path, sharpen=2.0)
    assert str(e.value).startswith(f"cannot write {path}: ") and "\n" not in str(e.value)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["best.pt"]

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UserError, match=f"cannot write {path}: No space left on device$"):
        tiny_checkpoint(path, sharpen=2.0)
    with pytest.raises(UserError, match="No space left on device"):
        save_ensemble(tmp_path / "ens.pt", [path])
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["best.pt"]


def test_nan_tensor_is_named(tmp_path):
    ckpt = torch.load(tiny_checkpoint(tmp_path / "good.pt"), weights_only=True)
    name = sorted(ckpt["state_dict"])[1]
    ckpt["state_dict"][name].view(-1)[0] = float("nan")
    torch.save(ckpt, tmp_path / "nan.pt")
    with pytest.raises(UserError, match=rf"tensor '{name}' of 'state_dict' has 1 non-finite"):
        load_checkpoint(tmp_path / "nan.pt")


@pytest.mark.parametrize("damage, words", [
    (lambda e: e.update(members=[]), "field 'members' is empty"),
    (lambda e: e["members"].append("x"), "field 'members[1]' is a str"),
    (lambda e: _drop(e["members"][0], "state_dict"), "field 'members[0].state_dict' is missing"),
    (lambda e: next(iter(e["members"][0]["state_dict"].values())).fill_(float("nan")), "of 'members[0].state_dict'"),
])
def test_damaged_ensemble_names_the_member(tmp_path, damage, words):
    ens = torch.load(WEIGHTS / "default.pt", weights_only=True)
    ens["members"] = ens["members"][:1]
    damage(ens)
    torch.save(ens, tmp_path / "ens.pt")
    with pytest.raises(UserError, match=r"ens\.pt: .*" + words.replace("[", r"\[").replace("]", r"\]")):
        load_checkpoint(tmp_path / "ens.pt")


@pytest.mark.parametrize("damage, words", [
    (lambda ts: _drop(ts, "state"), "field 'train_state.state' is missing"),
    (lambda ts: ts["state"].update(epoch="one"), "field 'train_state.state.epoch' is str"),
    (lambda ts: ts["state"].update(best_epoch=7), "'train_state.state.best_epoch' is past its history"),
    (lambda ts: ts.update(torch_rng=[1, 2]), "'train_state.torch_rng' is missing or not a tensor"),
    (lambda ts: ts["numpy_rng"].update(state="x"), "field 'train_state.numpy_rng' does not fit this run"),
    (lambda ts: ts["optimizer"].update(param_groups=[]), "field 'train_state.optimizer' does not fit this run"),
    (lambda ts: ts["model"].update({k: v.clone().fill_(float("nan")) for k, v in list(ts["model"].items())[:1]}),
     "of 'train_state.model' has"),  # (a clone: the saved weights share storage with state_dict)
])
def test_resume_from_a_damaged_train_state_is_one_line(tiny_run, tmp_path, out_dir, cwd, capsys, damage, words):
    ckpt = torch.load(tiny_run / "last.pt", weights_only=True)
    damage(ckpt["train_state"])
    bad = tmp_path / "last.pt"
    torch.save(ckpt, bad)
    err = error_of(train_main, capsys, *TINY, f"trainer.resume={bad}")
    assert str(bad) in err and words in err


@pytest.mark.data("casp12")
def test_corrupt_checkpoints_get_one_clean_line(tmp_path, cwd, capsys):
    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(1000)}, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:300])
    pickled = tmp_path / "pickled.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint\n")
    for path in (truncated, pickled, text, tmp_path / "empty.pt"):
        path.touch()
        with pytest.raises(UserError) as e:
            load_checkpoint(path)
        msg = str(e.value)
        assert msg.startswith(f"{path}: not a readable ss-predict checkpoint (") and msg.endswith(")"), msg
        assert "\n" not in msg and "\x1b" not in msg and "weights_only" not in msg and "unsafe" not in msg.lower()
    assert "torch.nn.modules.linear.Linear" in str(pytest.raises(UserError, load_checkpoint, pickled).value)
    code, _, err = run_cli(eval_main, capsys, f"checkpoint={truncated}", "data=casp12")
    assert code == 2 and "truncated or damaged" in one_line_error(err)


def test_a_plain_pickle_is_refused_in_one_line(fasta, tmp_path):
    """torch's "Detected pickle protocol 4" warning added two lines to the refusal (the pickle is never run)."""
    import pickle
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"format": "ss-predict/1"}, protocol=4))
    r = predict_child(str(fasta), "-m", str(plain), "-o", str(tmp_path / "o.ss2"))
    refused(r, f"{plain}: not a readable ss-predict checkpoint")
    assert not (tmp_path / "o.ss2").exists()


def test_bad_model_file(fasta, tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    for model, msg in ((str(junk), "not a readable ss-predict checkpoint"), (str(tmp_path / "none.pt"), "not found"),
                       ("nosuchmodel", "no bundled model")):
        assert msg in error_of(predict_main, capsys, str(fasta), "--model", model, "-o", str(tmp_path / "o.ss2"))
    assert not (tmp_path / "o.ss2").exists()


@pytest.mark.data("tiny")
def test_ensemble_file_equals_comma_average(fasta, tiny_run, tmp_path, capsys):
    """One ensemble file predicts exactly what its members averaged on the command line predict."""
    tiny = tiny_run / "best.pt"
    ens = tmp_path / "ens.pt"
    save_ensemble(ens, ["default", tiny], metrics={"valid": {"q3": 1.0}})
    ckpt = load_checkpoint(ens)  # weights_only load of a plain nested dict
    n_default = len(members(load_checkpoint(model_path("default"))))
    assert len(ckpt["members"]) == n_default + 1 and ckpt["members"][-1]["model"]["name"] == "phd"
    assert all("train_state" not in m for m in ckpt["members"])
    a = run_cli(predict_main, capsys, str(fasta), "--model", str(ens), "-f", "json")
    b = run_cli(predict_main, capsys, str(fasta), "--model", f"default,{tiny}", "-f", "json")
    assert a[0] == 0 and a[1] == b[1]
    one = run_cli(predict_main, capsys, str(fasta), "--model", str(tiny), "-f", "json")
    assert json.loads(one[1])[0]["p8"] != json.loads(a[1])[0]["p8"]
    assert torch.load(ens, weights_only=True)["metrics"]["valid"]["q3"] == 1.0


@pytest.mark.data("casp12")
def test_bundled_model_is_really_trained(data_root):
    """The shipped weights are trained: far above chance (Q3 ~ 40%) on a benchmark it never saw."""
    from ss_predict.checkpoint.loading import load_models
    from ss_predict.data.formats import read_any
    from ss_predict.evaluation.evaluate import evaluate_sets

    loaded = load_models("default", torch.device("cpu"))
    models, ckpt = loaded.models, loaded.checkpoint
    assert loaded.features == "onehot" and ckpt["data_manifest_sha256"]
    res = evaluate_sets(models, "onehot", {"casp12": read_any(data_root / "lift_ss_testsets/CASP12.txt")},
                        torch.device("cpu"), 32768)["casp12"]
    assert res["residues_scored"] == 12442
    assert res["q3"] > 68 and res["q8"] > 52


@pytest.mark.data("ts115")
def test_bundled_multitask_model_is_really_trained(data_root):
    """The shipped `multitask` weights predict all four tasks and are trained for each: on TS115 (a benchmark it was
    filtered against) structure far above chance, disorder far above a coin's AUC of 0.5."""
    from ss_predict.checkpoint.loading import bundled_models, load_models
    from ss_predict.data.formats import read_any
    from ss_predict.evaluation.evaluate import evaluate_sets

    assert {"default", "multitask"} <= set(bundled_models())
    loaded = load_models("multitask", torch.device("cpu"))
    assert loaded.tasks == ("ss8", "rsa", "angles", "disorder") and loaded.features == "onehot"
    ts115 = read_any(data_root / "ps4_netsurfp_cb513_ts115/TS115_HHblits.csv")
    res = evaluate_sets(loaded.models, "onehot", {"ts115": ts115}, torch.device("cpu"), 32768,
                        tasks=loaded.tasks)["ts115"]
    assert res["q3"] > 68 and res["q8"] > 52
    assert res["tasks"]["disorder_auc"] > 0.85 and res["tasks"]["disorder_residues"] == sum(len(p) for p in ts115)
    assert "rsa_pcc" not in res["tasks"]  # TS115 carries no accessibility labels: no score made up


def test_an_ss_only_checkpoint_is_the_eight_state_model_it_was(tiny_ckpt, tmp_path, capsys):
    """An SS-only checkpoint records tasks [ss8] (or, written before tasks existed, nothing), builds a model of 8
    outputs, and predicts the same with or without the field."""
    from ss_predict.checkpoint.loading import build_model
    from ss_predict.prediction.predictor import Predictor
    ck = torch.load(tiny_ckpt, weights_only=True)
    assert ck.get("tasks", ["ss8"]) == ["ss8"]
    model = build_model(ck)
    assert model.tasks == ("ss8",) and model.n_outputs == 8
    assert model(torch.zeros(1, 5, 21), torch.ones(1, 5, dtype=torch.bool)).shape == (1, 5, 8)
    old = dict(ck)
    old.pop("tasks", None)
    torch.save(old, tmp_path / "old.pt")
    a, b = Predictor(str(tiny_ckpt), device="cpu"), Predictor(str(tmp_path / "old.pt"), device="cpu")
    assert a.tasks == b.tasks == ("ss8",)
    pa, pb = a.predict(["MKVLAAGIVGLLLAAHSEEVKKLLEEAG"])[0], b.predict(["MKVLAAGIVGLLLAAHSEEVKKLLEEAG"])[0]
    assert pa.p8.tobytes() == pb.p8.tobytes() and pa.tasks == pb.tasks == []
    assert pa.rsa is None and pa.phi is None and pa.psi is None and pa.disorder is None and pa.asa is None


def test_a_multitask_checkpoint_records_and_rebuilds_its_heads(tiny_mt_ckpt):
    from ss_predict.checkpoint.loading import build_model
    from ss_predict.prediction.predictor import Predictor
    ck = load_checkpoint(tiny_mt_ckpt)
    assert ck["tasks"] == ["ss8", "rsa", "angles", "disorder"]
    model = build_model(ck)
    assert model.n_outputs == 8 + 1 + 4 + 1
    parts = model.split(model(torch.zeros(1, 5, 21), torch.ones(1, 5, dtype=torch.bool)))
    assert {k: tuple(v.shape) for k, v in parts.items()} == {"ss8": (1, 5, 8), "rsa": (1, 5), "angles": (1, 5, 4),
                                                             "disorder": (1, 5)}
    pred = Predictor(str(tiny_mt_ckpt), device="cpu").predict(["MKVLAAGIVGLLLAAHSEEVKKLLEEAG"])[0]
    assert pred.tasks == ["rsa", "asa", "phi", "psi", "disorder"]
    assert ((0 <= pred.rsa) & (pred.rsa <= 1)).all() and ((0 <= pred.disorder) & (pred.disorder <= 1)).all()
    assert (abs(pred.phi) <= 180).all() and (abs(pred.psi) <= 180).all()


def test_models_of_different_tasks_are_not_averaged(tiny_ckpt, tiny_mt_ckpt, capsys):
    err = error_of(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-m", f"{tiny_ckpt},{tiny_mt_ckpt}")
    assert "predict different tasks" in err
    with pytest.raises(UserError, match="predict different tasks"):
        save_ensemble(tiny_ckpt.parent / "ens.pt", [tiny_ckpt, tiny_mt_ckpt])
