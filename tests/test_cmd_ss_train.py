"""ss-train: runs and sweeps never overwrite each other, every careless option is one line with exit status 2 and
nothing made, Ctrl-C and SIGTERM save last.pt, a diverged run saves nothing."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import TINY, error_of, one_line_error, run_cli, writes_fail_past
from ss_predict.checkpoint.format import load_checkpoint
from ss_predict.cli import train_main


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


@pytest.mark.data("tiny")
def test_train_unwritable_output_is_one_line(cwd, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, _, err = run_cli(train_main, capsys, *TINY, f"paths.output_dir={blocker}/out")
    assert code == 2 and "cannot write" in one_line_error(err) and "paths.output_dir" in err
    code, _, err = run_cli(train_main, capsys, "-m", *TINY, "seed=0,1", f"paths.output_dir={blocker}/out")
    assert code == 2 and "cannot write" in one_line_error(err)


@pytest.mark.parametrize("override, words", [
    ("trainer.lr=nan", "trainer.lr=nan must be a finite number"),
    ("trainer.lr=inf", "trainer.lr=inf must be a finite number"),
    ("trainer.max_minutes=nan", "must be a finite number"),
    ("name=../../escaped", "name='../../escaped'"),
    ("name=", "name=''"),
    ("name=/abs", "name='/abs'"),
    ("name=.", "name='.'"),  # the runs folder itself: best.pt straight into outputs/runs/
    ("name=./", "name='./'"),
    ("data=[]", "data is empty"),
    ("model=[]", "model is empty"),
])
def test_train_options_one_line_and_nothing_made(cwd, out_dir, capsys, override, words):
    assert words in error_of(train_main, capsys, *TINY, override)
    assert not out_dir.exists() and not (cwd / "escaped").exists() and not (out_dir.parent / "escaped").exists()


@pytest.mark.data("tiny")
def test_a_finished_run_reached_through_dot_dot_is_refused(tiny_run, tmp_path, cwd, capsys):
    """`x/new/../victim` names victim once x/new is made: the check must look there, not at a folder that is not."""
    victim = tmp_path / "victim"
    shutil.copytree(tiny_run, victim)
    before = {p.name: p.read_bytes() for p in victim.iterdir() if p.is_file()}
    for run_dir in (f"{tmp_path}/nonexistent/../victim", f"{tmp_path}/./victim/"):
        err = error_of(train_main, capsys, *TINY, f"run_dir={run_dir}")
        assert "already holds a run" in err and f"{victim} " in err, err
    assert {p.name: p.read_bytes() for p in victim.iterdir() if p.is_file()} == before


@pytest.mark.data("tiny")
def test_a_full_disk_while_training_is_one_line_and_keeps_the_last_checkpoints(tiny_run, tmp_path, cwd, capsys):
    """Epoch 2 of a resumed run cannot write its checkpoints (each file stops at 50 kB, as on a full disk): one line
    naming the file, exit 2, and epoch 1's best.pt and last.pt as they were (no temporary file left)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert min(len(before["best.pt"]), len(before["last.pt"])) > 50_000
    with writes_fail_past(50_000):
        err = error_of(train_main, capsys, *TINY, "trainer.max_epochs=2", "trainer.resume=auto", f"run_dir={run}")
    assert err.startswith(f"error: cannot write {run}/") and ".pt: File too large" in err, err
    assert sorted(p.name for p in run.iterdir()) == sorted(before)
    assert {n: (run / n).read_bytes() for n in ("best.pt", "last.pt")} == {n: before[n] for n in ("best.pt", "last.pt")}


@pytest.mark.data("tiny")
def test_diverged_training_saves_no_checkpoint(cwd, out_dir, capsys):
    err = error_of(train_main, capsys, *TINY, "trainer.lr=1e30")
    assert "training diverged in epoch 1" in err and "trainer.lr" in err
    run = out_dir / "runs" / "phd_s0"
    assert not (run / "best.pt").exists() and not (run / "last.pt").exists()


def test_ss_train_cli_info_and_bad_key():
    ok = subprocess.run([sys.executable, "-c", "from ss_predict.cli import train_main; train_main()",
                         "info=true", "model=dilated_cnn"], capture_output=True, text=True)
    assert ok.returncode == 0 and "receptive field 131" in ok.stdout
    bad = subprocess.run([sys.executable, "-c", "from ss_predict.cli import train_main; train_main()",
                          "trainer.nope=1"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "trainer.nope" in bad.stderr


@pytest.mark.data("tiny")
def test_ctrl_c_saves_last(tmp_path, out_dir):
    import signal
    import time
    proc = subprocess.Popen([sys.executable, "-m", "ss_predict.cli.train", "data=tiny", "trainer=tiny",
                             "trainer.max_epochs=500", f"run_dir={tmp_path}/run", "model=phd"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as from a terminal: a test run in the background (nohup, `&`) inherits SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (tmp_path / "run/last.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    (tmp_path / "run/last.pt").unlink()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    ckpt = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert ckpt["metrics"] == {"interrupted": True} and ckpt["train_state"] is not None


def test_sigterm_during_training_saves_last_pt(tmp_path):
    env = {**os.environ, "SS_OUTPUT_DIR": str(tmp_path)}
    p = subprocess.Popen(["ss-train", *TINY, "trainer.max_epochs=1000"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    for line in p.stdout:
        if line.startswith("[ss-train] epoch 1:"):
            p.send_signal(signal.SIGTERM)
            break
    out, err = p.communicate(timeout=120)
    assert p.returncode == 143 and err.endswith("terminated\n"), err
    run = tmp_path / "runs" / "phd_s0"
    assert load_checkpoint(run / "last.pt")["metrics"] == {"interrupted": True}
    assert not [f for f in run.iterdir() if f.name.endswith(".tmp")]


@pytest.mark.parametrize("override, words", [
    ("tasks=[ss8,disorder]", ["no disorder labels", "BC40_MSA_30.txt"]),  # data=tiny: structure labels only
    ("tasks=[ss8,rsa]", ["no rsa labels"]),
    ("tasks=[rsa]", ["must include ss8"]),
    ("tasks=[ss8,foo]", ["unknown task 'foo'"]),
    ("tasks=ss9", ["unknown task 'ss9'"]),
])
def test_tasks_the_run_cannot_learn_are_one_line_and_nothing_made(cwd, out_dir, capsys, override, words):
    err = error_of(train_main, capsys, *TINY, override)
    assert all(w in err for w in words), err
    assert not out_dir.exists() and list(cwd.iterdir()) == []


@pytest.mark.data("tiny")
def test_a_classical_model_with_tasks_is_one_line_and_nothing_made(cwd, out_dir, capsys):
    err = error_of(train_main, capsys, *TINY, "model=gnb", "tasks=[ss8,rsa]", "data.train.path="
                   "${paths.data_root}/cmbi_dssp_chains/dssp_sample", "data.train.format=dssp", "~data.train.limit")
    assert "model 'gnb' predicts secondary structure only" in err and "tasks=['ss8', 'rsa']" in err
    assert not out_dir.exists() and list(cwd.iterdir()) == []


@pytest.mark.data("tiny", "cmbi_dssp")
def test_a_multitask_run_on_dssp_chains_learns_its_tasks_and_ss_eval_scores_them(cwd, out_dir, tmp_path, capsys,
                                                                                 data_root):
    """tasks=[ss8,rsa,angles] on real DSSP chains: the checkpoint records the tasks, its validation metrics have the
    task scores, it predicts RSA and angles (no disorder: not asked for), and ss-eval prints the task table."""
    import json

    import numpy as np

    from ss_predict.cli import eval_main
    from ss_predict.prediction.predictor import Predictor
    dssp = "${paths.data_root}/cmbi_dssp_chains/dssp_sample"
    data = [f"data.train.path={dssp}", "data.train.format=dssp", "~data.train.limit",
            f"data.valid.path={dssp}/153L.dssp", "data.valid.format=dssp", "~data.valid.limit"]
    code, out, err = run_cli(train_main, capsys, *TINY, "tasks=[ss8,rsa,angles]", "name=mt", *data)
    assert code == 0, err
    assert "RSA PCC" in out and "phi MAE" in out and "disorder" not in out
    ck = load_checkpoint(out_dir / "runs" / "mt" / "best.pt")
    assert ck["tasks"] == ["ss8", "rsa", "angles"]
    assert {"rsa_pcc", "exposure_acc", "phi_mae", "psi_mae"} <= set(ck["metrics"])
    assert np.isfinite(ck["metrics"]["rsa_pcc"]) and 0 <= ck["metrics"]["phi_mae"] <= 180
    pred = Predictor(str(out_dir / "runs" / "mt" / "best.pt"), device="cpu").predict(["MKVLAAGIVGLLLAAHSEEVKKLLEE"])[0]
    assert pred.tasks == ["rsa", "asa", "phi", "psi"] and pred.disorder is None
    assert ((0 <= pred.rsa) & (pred.rsa <= 1)).all() and (np.abs(pred.phi) <= 180).all()
    report = tmp_path / "eval.json"
    code, out, err = run_cli(eval_main, capsys, f"checkpoint={out_dir / 'runs' / 'mt' / 'best.pt'}", "data=casp12",
                             f"+data.dssp={{format: dssp, path: '{dssp}'}}", f"output={report}", "device=cpu")
    assert code == 0, err
    lines = out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("set") and "RSA PCC" in ln)
    assert "phi MAE" in lines[head] and "dis AUC" in lines[head]
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[head + 2:] if ln.strip()}
    assert rows["casp12"] == ["-"] * 7  # no such labels: dashes, never a made-up number
    assert rows["dssp"][0] != "-" and rows["dssp"][3] != "-" and rows["dssp"][5:] == ["-", "-"]  # no disorder task
    res = json.loads(report.read_text())
    assert res["tasks"] == ["ss8", "rsa", "angles"]
    t = res["results"]["dssp"]["tasks"]
    from ss_predict.data.formats.dssp import read_dssp
    chains = read_dssp(data_root / "cmbi_dssp_chains" / "dssp_sample")
    assert t["rsa_residues"] == sum(int((~np.isnan(p.rsa)).sum()) for p in chains)
    assert t["phi_residues"] == sum(int((~np.isnan(p.phi)).sum()) for p in chains)
    assert -1 <= t["rsa_pcc"] <= 1 and 0 <= t["phi_mae"] <= 180 and "disorder_auc" not in t
    assert res["results"]["casp12"]["tasks"] == {}
