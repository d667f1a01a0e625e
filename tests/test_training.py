"""training/: a tiny run learns, reloads and predicts identically; resume and time budgets continue exactly; the
same seed gives the same run; a resume that does not fit the run is one line."""
import json

import numpy as np
import pytest
import torch

from conftest import TINY
from ss_predict.data.batching import EncodedSet
from ss_predict.checkpoint.format import load_checkpoint
from ss_predict.checkpoint.loading import build_model
from ss_predict.config.compose import load_config
from ss_predict.errors import UserError
from ss_predict.inference.engine import predict_sets
from ss_predict.training.loop import train

TINY_MODEL = ["model=cnn_bigru", "model.kwargs.conv_channels=8", "model.kwargs.hidden=12", "model.kwargs.head=16"]


def _cfg(run_dir, *extra, model=tuple(TINY_MODEL)):
    return load_config("train", ["data=tiny", "trainer=tiny", f"run_dir={run_dir}", *model, *extra])


@pytest.mark.data("tiny")
def test_tiny_training_learns_and_reloads(tmp_path, out_dir):
    cfg = _cfg(tmp_path / "run", "trainer.max_epochs=4", "trainer.lr=5e-3")
    best = train(cfg)
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    hist = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["train_state"]["state"]["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["loss"] < hist[0]["loss"] and best["epoch"] >= 1
    assert ckpt["features"]["name"] == "onehot" and ckpt["model"]["name"] == "cnn_bigru"
    assert ckpt["config"]["trainer"]["max_epochs"] == 4  # resolved config as plain containers
    # the checkpoint rebuilds the model alone and predicts identically, twice
    from ss_predict.data.splits import load_split
    data = EncodedSet(load_split(cfg.data.valid), "onehot")
    a = predict_sets([build_model(ckpt)], data, torch.device("cpu"))
    b = predict_sets([build_model(load_checkpoint(tmp_path / "run" / "best.pt"))], data, torch.device("cpu"))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert all(abs(p.sum(-1) - 1).max() < 1e-5 for p in a)


@pytest.mark.data("tiny")
def test_resume_continues_exactly(tmp_path, out_dir):
    straight = _cfg(tmp_path / "a", "trainer.max_epochs=2", "trainer.ema_decay=0.9")
    train(straight)
    first = _cfg(tmp_path / "b", "trainer.max_epochs=2", "trainer.ema_decay=0.9", "trainer.run_epochs=1")
    train(first)
    assert torch.load(tmp_path / "b/last.pt", weights_only=True)["epoch"] == 1
    train(_cfg(tmp_path / "b", "trainer.max_epochs=2", "trainer.ema_decay=0.9", "trainer.resume=auto"))
    a = torch.load(tmp_path / "a/last.pt", weights_only=True)
    b = torch.load(tmp_path / "b/last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    for k in a["train_state"]["model"]:
        torch.testing.assert_close(a["train_state"]["model"][k], b["train_state"]["model"][k], rtol=0, atol=0)
    assert a["metrics"]["q3"] == b["metrics"]["q3"]


@pytest.mark.data("tiny")
def test_max_minutes_stops_after_the_epoch_and_resumes(tmp_path, out_dir):
    """A budget the first epoch crosses stops there with a resumable last.pt; resuming ends like a straight run."""
    train(_cfg(tmp_path / "a", "trainer.max_epochs=3"))
    best = train(_cfg(tmp_path / "b", "trainer.max_epochs=3", "trainer.max_minutes=0.0001"))
    summary = json.loads((tmp_path / "b/summary.json").read_text())
    assert [h["epoch"] for h in summary["history"]] == [1] and best == summary["best"]
    assert load_checkpoint(tmp_path / "b/best.pt")["epoch"] == 1
    last = torch.load(tmp_path / "b/last.pt", weights_only=True)
    assert last["epoch"] == 1 and last["train_state"]["state"]["step"] > 0
    train(_cfg(tmp_path / "b", "trainer.max_epochs=3", "trainer.resume=auto", "trainer.max_minutes=60"))
    a = torch.load(tmp_path / "a/last.pt", weights_only=True)
    b = torch.load(tmp_path / "b/last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 3
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=0)


@pytest.mark.data("tiny")
def test_same_seed_same_run(tmp_path, out_dir):
    for run in ("a", "b"):
        train(_cfg(tmp_path / run, "trainer.max_epochs=1",
                   model=("model=dilated_cnn", "model.kwargs.channels=8")))
    a = torch.load(tmp_path / "a/best.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b/best.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.data("tiny")
def test_checkpoint_from_other_feature_spec_is_refused(tmp_path, out_dir):
    train(_cfg(tmp_path / "a", "trainer.max_epochs=1", model=("model=phd",)))
    with pytest.raises(UserError, match="made with features .onehot. and this run asks for .onehot.profile."):
        train(_cfg(tmp_path / "a", "trainer.max_epochs=2", "features=onehot+profile", "trainer.resume=auto",
                   model=("model=phd",)))


@pytest.mark.data("tiny")
def test_config_errors_are_one_line(tmp_path, out_dir):
    with pytest.raises(UserError, match="trainer.nope"):
        load_config("train", ["trainer.nope=1"])
    with pytest.raises(UserError, match="model/transformer"):
        load_config("train", ["model=transformer"])
    with pytest.raises(UserError, match="file not found"):
        train(_cfg(tmp_path / "x", "data.train.path=/nonexistent/train.txt"))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed interrupt, on purpose
def test_ctrl_c_swallowed_in_a_clean_up_is_remembered():
    """A KeyboardInterrupt raised inside __del__ (or a generator's close) is printed and dropped by Python;
    training must still see the Ctrl-C (it stops at the next batch)."""
    import os
    import signal
    import types

    from ss_predict.training.loop import remember_ctrl_c
    run = types.SimpleNamespace(interrupted=False)

    class CleanUp:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with remember_ctrl_c(run):
            try:
                CleanUp()  # collected at once; the interrupt lands in __del__ and is swallowed there
            except KeyboardInterrupt:  # or, depending on timing, right after it: either way it is remembered
                pass
        assert run.interrupted
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job: Ctrl-C stays ignored
        with remember_ctrl_c(run):
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.data("tiny")
def test_resume_after_changing_the_model_is_one_line(out_dir, tmp_path):
    train(load_config("train", [*TINY, f"run_dir={tmp_path}/r"]))
    for change, expect in ((["model=dilated_cnn"], ["model phd", "model dilated_cnn"]),
                           (["model.kwargs.hidden=32"], ["hidden=64", "hidden=32"])):
        with pytest.raises(UserError) as e:
            train(load_config("train", [*TINY, *change, f"run_dir={tmp_path}/r", "trainer.resume=auto"]))
        msg = str(e.value)
        assert "\n" not in msg and all(x in msg for x in expect) and "state_dict" not in msg
        assert "name=" in msg and "overwrite=true" in msg

