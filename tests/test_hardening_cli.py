"""Hardening of ss-train / ss-eval / ss-data stats (issue #16): runs and results never overwrite each other,
careless inputs end in one complete line with exit status 2. CLI calls run in-process on tiny configs.

Read-only output is simulated with a path whose parent is a regular file (as root, chmod does not stop writes)."""
import json
import time

import pytest
import torch

from ss_predict.checkpoint.format import load_checkpoint, save_checkpoint
from ss_predict.cli import data_main, eval_main, train_main
from ss_predict.config.compose import load_config
from ss_predict.errors import UserError
from ss_predict.evaluation.evaluate import default_output
from ss_predict.data.features import spec_dict
from ss_predict.models import create_model
from ss_predict.training.loop import train

TINY = ["model=phd", "data=tiny", "trainer=tiny", "trainer.max_epochs=1", "trainer.tensorboard=false"]


def run_cli(entry, capsys, *args):
    """Call a console entry point in-process: (exit status, stdout, stderr)."""
    try:
        entry(list(args))
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "\x1b" not in err
    return err


@pytest.fixture
def tiny_ckpt(tmp_path):
    torch.manual_seed(0)
    kwargs = {"channels": 8, "dilations": [1, 2], "repeats": 1}
    m = create_model("dilated_cnn", spec_dict("onehot")["n_features"], **kwargs)
    path = tmp_path / "runA" / "best.pt"
    save_checkpoint(path, model=m, model_cfg={"name": "dilated_cnn", "kwargs": kwargs},
                    features=spec_dict("onehot"), config={})
    return path


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """Run in an empty folder, to see what the entry points leave in the working directory."""
    d = tmp_path / "cwd"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


# ---- runs never overwrite each other ---------------------------------------------------------------------

@pytest.mark.data("tiny")
def test_sweep_jobs_get_their_own_run_dirs_under_time_stamped_roots(out_dir, cwd, capsys):
    code, out, err = run_cli(train_main, capsys, "-m", *TINY, "trainer.lr=1e-3,3e-3")
    assert code == 0, err
    roots = sorted((out_dir / "multirun").iterdir())
    assert len(roots) == 1 and time.strptime(roots[0].name, "%Y-%m-%d_%H-%M-%S")
    jobs = sorted(p.name for p in roots[0].iterdir() if p.is_dir())
    assert jobs == ["0_phd_s0", "1_phd_s0"]
    lrs = {load_checkpoint(roots[0] / j / "best.pt")["config"]["trainer"]["lr"] for j in jobs}
    assert lrs == {1e-3, 3e-3}
    assert not (out_dir / "runs").exists()
    while time.strftime("%Y-%m-%d_%H-%M-%S") == roots[0].name:  # a later sweep gets its own root
        time.sleep(0.1)
    code, _, err = run_cli(train_main, capsys, "-m", *TINY, "seed=1")
    assert code == 0, err
    roots = sorted((out_dir / "multirun").iterdir())
    assert len(roots) == 2 and [p.name for p in roots[1].iterdir() if p.is_dir()] == ["0_phd_s1"]
    assert list(cwd.iterdir()) == []  # no job log or other file in the working directory


@pytest.mark.data("tiny")
def test_sweep_into_a_used_sweep_folder_is_refused(out_dir, cwd, tmp_path, capsys):
    fixed = f"hydra.sweep.dir={tmp_path}/sweep"
    assert run_cli(train_main, capsys, "-m", *TINY, fixed)[0] == 0
    before = (tmp_path / "sweep/0_phd_s0/best.pt").read_bytes()
    code, _, err = run_cli(train_main, capsys, "-m", *TINY, fixed)
    assert code == 2 and "already holds a run" in one_line_error(err)
    assert (tmp_path / "sweep/0_phd_s0/best.pt").read_bytes() == before


@pytest.mark.data("tiny")
def test_rerunning_a_finished_name_needs_resume_or_overwrite(out_dir, cwd, capsys):
    run = out_dir / "runs" / "phd_s0"
    assert run_cli(train_main, capsys, *TINY, "trainer.tensorboard=true")[0] == 0  # trainer=tiny keeps TensorBoard
    before = (run / "best.pt").read_bytes()
    old_events = {p.name for p in (run / "tb").iterdir()}
    assert old_events
    code, _, err = run_cli(train_main, capsys, *TINY)
    assert code == 2 and "trainer.resume=auto" in one_line_error(err) and "overwrite=true" in err
    assert (run / "best.pt").read_bytes() == before
    # resume=auto continues the run (here: already at max_epochs, so nothing changes)
    assert run_cli(train_main, capsys, *TINY, "trainer.resume=auto")[0] == 0
    assert (run / "best.pt").read_bytes() == before
    # overwrite=true starts over: old checkpoints and TensorBoard logs are gone, new ones written
    assert run_cli(train_main, capsys, *TINY, "overwrite=true", "seed=5", "name=phd_s0")[0] == 0
    assert load_checkpoint(run / "best.pt")["config"]["seed"] == 5
    assert not (run / "tb").exists()


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


# ---- ss-eval results ------------------------------------------------------------------------------------

@pytest.mark.data("casp12", "casp10")
def test_eval_names_results_by_checkpoint_and_sets_and_never_replaces(tiny_ckpt, out_dir, cwd, capsys):
    args = [f"checkpoint={tiny_ckpt}", "data=casp12", "device=cpu"]
    assert run_cli(eval_main, capsys, *args)[0] == 0
    assert run_cli(eval_main, capsys, *args)[0] == 0
    files = sorted(p.name for p in (out_dir / "eval").iterdir())
    assert [n for n in files if n.endswith(".json")] == ["runA_best.casp12-2.json", "runA_best.casp12.json"]
    for stem in ("runA_best.casp12.", "runA_best.casp12-2."):  # each report has its own plots beside it
        assert f"{stem}casp12.confusion.png" in files
    other = tiny_ckpt.parent.parent / "runB" / "best.pt"
    other.parent.mkdir()
    other.write_bytes(tiny_ckpt.read_bytes())
    assert run_cli(eval_main, capsys, f"checkpoint=[{tiny_ckpt},{other}]", "data=[casp12,casp10]", "device=cpu")[0] == 0
    rep = json.loads((out_dir / "eval" / "runA_best+runB_best.casp12+casp10.json").read_text())
    assert rep["results"]["casp12"]["residues_scored"] == 12442 and len(rep["checkpoints"]) == 2
    assert list(cwd.iterdir()) == []  # no ./cli.log (Hydra's job log is off)


def test_eval_many_members_get_a_short_hashed_name(tmp_path):
    paths = [tmp_path / f"a_long_run_name_{i}" / "best.pt" for i in range(8)]
    out = default_output(tmp_path / "eval", paths, ["cb513", "ts115"])
    assert out.name.startswith("ensemble8-") and out.name.endswith(".cb513+ts115.json")
    assert out != default_output(tmp_path / "eval", paths[:7], ["cb513", "ts115"])


@pytest.mark.data("casp12")
def test_eval_explicit_output_is_not_replaced_without_overwrite(tiny_ckpt, out_dir, cwd, tmp_path, capsys):
    target = tmp_path / "mine.json"
    target.write_text("keep me\n")
    code, out, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12", f"output={target}")
    assert code == 2 and "overwrite=true" in one_line_error(err) and target.read_text() == "keep me\n"
    code, out, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12", f"output={target}",
                             "overwrite=true", "device=cpu")
    assert code == 0 and json.loads(target.read_text())["results"]["casp12"]["proteins"] == 47


@pytest.mark.data("casp12")
def test_eval_unwritable_output_prints_the_table_then_one_line(tiny_ckpt, cwd, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, out, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12", "device=cpu",
                             f"paths.output_dir={blocker}/out")
    assert code == 2 and "table above is not saved" in one_line_error(err) and str(blocker) in err
    row = [line for line in out.splitlines() if line.startswith("casp12")]
    assert row and row[0].split()[1:3] == ["47", "12442"]


@pytest.mark.data("casp12", "casp10")
def test_eval_progress_bar_option(tiny_ckpt, out_dir, cwd, capsys):
    code, _, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=[casp12,casp10]", "progress=true")
    assert code == 0 and "casp12" in err and "casp10" in err and "res" in err
    code, _, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12")  # auto: not a terminal
    assert code == 0 and err == ""
    code, _, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12", "progress=maybe")
    assert code == 2 and "auto, true or false" in one_line_error(err)


# ---- one complete line for every careless input ---------------------------------------------------------

@pytest.mark.parametrize("override, expect", [
    ("trainer.max_epoch=3", ["trainer.max_epoch is not a trainer key", "did you mean trainer.max_epochs?"]),
    ("model=transformer", ["model/transformer", "cnn_bigru", "dilated_cnn", "phd"]),
    ("data=cb514", ["data/cb514", "cb513", "tiny"]),
    ("trainer.max_epochs=abc", ["trainer.max_epochs", "integer"]),
    ("trainer.tensorboard=maybe", ["trainer.tensorboard", "true or false"]),  # yes/no/on/off are booleans
    ("trainer.lr=1e-3,3e-3", ["--multirun"]),
])
def test_config_errors_keep_hydra_hints_in_one_line(override, expect, cwd, capsys):
    code, _, err = run_cli(train_main, capsys, "model=phd", "data=tiny", override)
    assert code == 2 and all(x in one_line_error(err) for x in expect), err
    assert "Config search path" not in err


def test_bad_sweep_option_stops_before_any_job(out_dir, cwd, capsys):
    code, _, err = run_cli(train_main, capsys, "-m", *TINY, "model=phd,transformer")
    assert code == 2 and "Available options in 'model'" in one_line_error(err)
    code, _, err = run_cli(train_main, capsys, "-m", *TINY, "trainer.max_epochs=1,abc")
    assert code == 2 and "integer" in one_line_error(err)
    assert not out_dir.exists()


def test_eval_wrong_type(capsys, cwd):
    code, _, err = run_cli(eval_main, capsys, "checkpoint=default", "max_tokens=lots")
    assert code == 2 and "max_tokens" in one_line_error(err)


@pytest.mark.data("tiny")
def test_train_unwritable_output_is_one_line(cwd, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, _, err = run_cli(train_main, capsys, *TINY, f"paths.output_dir={blocker}/out")
    assert code == 2 and "cannot write" in one_line_error(err) and "paths.output_dir" in err
    code, _, err = run_cli(train_main, capsys, "-m", *TINY, "seed=0,1", f"paths.output_dir={blocker}/out")
    assert code == 2 and "cannot write" in one_line_error(err)


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


def test_missing_built_set_and_data_root_say_what_to_do(out_dir, cwd, tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(train_main, capsys, "model=phd", "data=default", "trainer=tiny")
    assert code == 2 and "ss-data build" in one_line_error(err)
    code, _, err = run_cli(eval_main, capsys, "checkpoint=default", "data=valid")
    assert code == 2 and "ss-data build" in one_line_error(err)
    code, _, err = run_cli(train_main, capsys, "model=phd", "data=cullpdb_cb513", "trainer=tiny")
    assert code == 2 and "`ss-data build --config-name build_cullpdb`" in one_line_error(err)
    code, _, err = run_cli(train_main, capsys, *TINY, f"paths.data_root={tmp_path}/nowhere")
    assert code == 2 and "SS_DATA_ROOT" in one_line_error(err) and "data/README.md" in err
    (tmp_path / "empty_root").mkdir()
    code, _, err = run_cli(train_main, capsys, *TINY, f"paths.data_root={tmp_path}/empty_root")
    assert code == 2 and "BC40_MSA_30.txt" in one_line_error(err) and "data/README.md" in err
    monkeypatch.delenv("SS_DATA_ROOT")  # the default data root: data/ of the working directory
    assert load_config("train", []).paths.data_root == "data"
    code, _, err = run_cli(eval_main, capsys, "checkpoint=default", "data=casp12")
    assert code == 2 and "SS_DATA_ROOT" in one_line_error(err) and f"working directory {cwd}" in err


@pytest.mark.data("scratch1d")
def test_stats_refuses_a_scratch_label_file(data_root, capsys):
    folder = data_root / "scratch1d_sspro8"
    code, out, err = run_cli(data_main, capsys, "stats", str(folder / "SSpro8.dssp"))
    assert code == 2 and out == "" and "SCRATCH-1D label file" in one_line_error(err) and str(folder) in err
    code, out, err = run_cli(data_main, capsys, "stats", str(folder))
    assert code == 0 and "format:           scratch" in out and "proteins:         5772" in out


@pytest.mark.parametrize("teacher, words", [("teacher=[]", ["teacher=[]", "names no checkpoint"]),
                                            ("teacher=[/nonexistent/t.pt]", ["model file not found", "/nonexistent/t.pt"]),
                                            ("teacher=[notes.pt]", ["notes.pt", "not a readable ss-predict checkpoint"])])
@pytest.mark.data("tiny")
def test_distillation_teachers_are_checked_before_any_work(out_dir, cwd, capsys, teacher, words):
    """A missing, foreign or empty teacher list ends in one line naming it, before a run folder is made."""
    (cwd / "notes.pt").write_text("not a checkpoint\n")
    code, _, err = run_cli(train_main, capsys, *TINY, teacher)
    assert code == 2 and all(w in one_line_error(err) for w in words), err
    assert not (out_dir / "runs").exists()
