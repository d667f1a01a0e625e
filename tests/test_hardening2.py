"""Hardening, second round (issue #26), outside the prediction input/output path: profiles stay inside
--profiles DIR, replaced outputs keep their mode/owner, damaged or NaN checkpoints and unreadable paths are
one line, SIGTERM cleans up as Ctrl-C does, ss-eval writes through devices, numeric options are checked."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ss_predict.checkpoint.format import load_checkpoint, save_checkpoint
from ss_predict.checkpoint.loading import WEIGHTS
from ss_predict.cli import data_main, eval_main, predict_main, train_main
from ss_predict.config.compose import load_config
from ss_predict.errors import FormatError, UserError
from ss_predict.data.features import spec_dict
from ss_predict.data.formats.fasta import read_fasta
from ss_predict.core.files import atomic_write_text
from ss_predict.models import create_model
from ss_predict.data.profiles import attach_profiles, read_hhm, read_pssm
from ss_predict.training.loop import train
from test_hardening_cli import TINY, one_line_error, run_cli

FIX = Path(__file__).parent / "fixtures"
SEQ = read_fasta(FIX / "3VOP_A.fasta")[0].sequence
KWARGS = {"channels": 8, "dilations": [1, 2], "repeats": 1}


def tiny_checkpoint(path: Path, features: str = "onehot") -> Path:
    torch.manual_seed(0)
    m = create_model("dilated_cnn", spec_dict(features)["n_features"], **KWARGS)
    save_checkpoint(path, model=m, model_cfg={"name": "dilated_cnn", "kwargs": KWARGS},
                    features=spec_dict(features), config={})
    return path


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- 1. --profiles DIR: the -o DIR/ file-name rule, never outside DIR ------------------------------------

def protein(rid: str):
    p = read_fasta(FIX / "3VOP_A.fasta")
    p[0].id = rid
    return p


def test_profile_ids_with_paths_do_not_leave_the_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(FIX / "3VOP_A.pssm", outside / "secret.pssm")
    folder = tmp_path / "profiles"
    folder.mkdir()
    for rid in ("../outside/secret", str(outside / "secret")):
        with pytest.raises(UserError, match=r"no \S+\.pssm or \S+\.hhm in .*profiles \(the id with each"):
            attach_profiles(protein(rid), folder)
    # the same name ss-predict -o DIR/ would give the record: '/' -> '_'
    shutil.copy(FIX / "3VOP_A.pssm", folder / "_.._outside_secret.pssm")
    p = protein("../outside/secret")
    attach_profiles(p, folder)
    assert p[0].profile.shape == (64, 22)


def test_profile_names_follow_the_output_rule(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    shutil.copy(FIX / "3VOP_A.hhm", folder / "sp_3VOP_A_chain.hhm")
    p = protein("sp|3VOP_A|chain")
    attach_profiles(p, folder)
    assert p[0].profile.shape == (64, 22)


@pytest.mark.parametrize("make, words", [
    (lambda f: f.mkdir(), "is a folder"),
    (lambda f: f.write_bytes(b"\xff\xfe" + (FIX / "3VOP_A.pssm").read_bytes()), "byte 0 is not UTF-8"),
])
def test_profile_folder_or_binary_is_one_line(tmp_path, cwd, capsys, make, words):
    ckpt = tiny_checkpoint(tmp_path / "prof.pt", "onehot+profile")
    folder = tmp_path / "profiles"
    folder.mkdir()
    make(folder / "3VOP_A.pssm")
    code, _, err = run_cli(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-m", str(ckpt), "--profiles", str(folder))
    assert code == 2
    assert "3VOP_A.pssm" in one_line_error(err) and words in err


def test_missing_profile_names_the_record(tmp_path, cwd, capsys):
    ckpt = tiny_checkpoint(tmp_path / "prof.pt", "onehot+profile")
    (tmp_path / "profiles").mkdir()
    code, _, err = run_cli(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-m", str(ckpt),
                           "--profiles", str(tmp_path / "profiles"))
    assert code == 2 and "record '3VOP_A': no 3VOP_A.pssm or 3VOP_A.hhm" in one_line_error(err)


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("    1 S    1 -1  1  0", "    1 S    1 -1"), "line 5: .* 20 scores .*44 fields, the first row has 42"),
    (lambda t: t.replace("    2 T    0 -1  0 -1", "    2 T    0 -1"), "line 5: expected a residue and 20 scores"),
    (lambda t: t.replace("    1 S    1 -1  1  0", "    1 S    nan -1  1  0"), "line 4: a score is not a finite"),
    (lambda t: t.replace("  A  R  N  D  C", "  A  R  N  D  B", 1), "expected the 20 amino acid columns"),
])
def test_damaged_pssm_is_a_format_error(tmp_path, edit, words):
    f = tmp_path / "x.pssm"
    f.write_text(edit((FIX / "3VOP_A.pssm").read_text()))
    with pytest.raises(FormatError, match=words):
        read_pssm(f)


def test_damaged_hhm_is_a_format_error(tmp_path):
    text = (FIX / "3VOP_A.hhm").read_text()
    f = tmp_path / "x.hhm"
    f.write_text(text.replace("NULL   3706\t5728", "NULL   3706\tabc"))
    with pytest.raises(FormatError, match="line 16: expected 20 whole numbers"):
        read_hhm(f)
    f.write_text(text.replace("HMM    A\tC", "HMM    A\tZ"))
    with pytest.raises(FormatError, match="line 17: expected the 20 amino acid columns"):
        read_hhm(f)


# ---- 2. replacing an output keeps its mode and owner; hard links --------------------------------------------

def test_replaced_file_keeps_mode_and_owner(tmp_path):
    f = tmp_path / "out.ss2"
    f.write_text("old\n")
    os.chmod(f, 0o600)
    other = os.geteuid() == 0  # as root, give the file another owner to see that it is kept
    if other:
        os.chown(f, 1234, 1234)
    atomic_write_text(f, "new\n")
    st = f.stat()
    assert f.read_text() == "new\n" and oct(st.st_mode & 0o7777) == "0o600"
    if other:
        assert (st.st_uid, st.st_gid) == (1234, 1234)
    new = tmp_path / "fresh.ss2"  # a new file: the usual 0666 & ~umask (mkstemp's 0600 is not kept)
    umask = os.umask(0o022)
    try:
        atomic_write_text(new, "x\n")
    finally:
        os.umask(umask)
    assert oct(new.stat().st_mode & 0o777) == "0o644"


def test_hard_link_is_split_and_said(tmp_path, capsys):
    f, link = tmp_path / "out.ss2", tmp_path / "backup.ss2"
    f.write_text("old\n")
    os.link(f, link)
    atomic_write_text(f, "new\n")
    assert f.read_text() == "new\n" and link.read_text() == "old\n"  # written whole; the other link is untouched
    err = capsys.readouterr().err
    assert f"{f} had 2 hard links" in err and err.count("\n") == 1


# ---- 5/6. damaged and non-finite checkpoints: one line naming the file and the field ----------------------

def _drop(d, *keys):
    for k in keys[:-1]:
        d = d[k]
    del d[keys[-1]]


DAMAGE = [
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
]


@pytest.mark.parametrize("damage, words", DAMAGE)
def test_damaged_checkpoint_is_one_line_in_predict_and_eval(tmp_path, cwd, out_dir, capsys, damage, words):
    ckpt = torch.load(tiny_checkpoint(tmp_path / "good.pt"), weights_only=True)
    damage(ckpt)
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    code, _, err = run_cli(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-m", str(bad))
    assert code == 2 and str(bad) in one_line_error(err) and words in err
    code, _, err = run_cli(eval_main, capsys, f"checkpoint={bad}", "data=casp12")
    assert code == 2 and str(bad) in one_line_error(err) and words in err


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


@pytest.fixture(scope="module")
def last_pt(tmp_path_factory):
    """A real last.pt of a one-epoch tiny run (with its train_state)."""
    out = tmp_path_factory.mktemp("run")
    mp = pytest.MonkeyPatch()
    mp.setenv("SS_OUTPUT_DIR", str(out))
    try:
        train(load_config("train", TINY))
    finally:
        mp.undo()
    return next(out.rglob("last.pt"))


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
def test_resume_from_a_damaged_train_state_is_one_line(last_pt, tmp_path, out_dir, cwd, capsys, damage, words):
    ckpt = torch.load(last_pt, weights_only=True)
    damage(ckpt["train_state"])
    bad = tmp_path / "last.pt"
    torch.save(ckpt, bad)
    code, _, err = run_cli(train_main, capsys, *TINY, f"trainer.resume={bad}")
    assert code == 2 and str(bad) in one_line_error(err) and words in err


# ---- 5. a folder you may not enter: -m, -o, ss-data stats, ss-eval checkpoint= and data paths -------------

DRIVER = textwrap.dedent("""
    import io, json, sys, contextlib
    from ss_predict.cli import data_main, eval_main, predict_main
    entries = {"predict": predict_main, "data": data_main, "eval": eval_main}
    results = []
    for entry, args in json.loads(sys.argv[1]):
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                entries[entry](args)
            code = 0
        except SystemExit as e:
            code = e.code
        except BaseException as e:
            code, err = "crash", io.StringIO(repr(e))
        results.append([code, err.getvalue()])
    print(json.dumps(results))
""")


def test_paths_under_a_folder_you_cannot_enter_are_one_line(tmp_path, out_dir):
    """Real permission errors: the folder is mode 000 and the commands run in a child process that obeys it
    (as root: without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, via util-linux setpriv)."""
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop the override capability")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    locked = tmp_path / "locked"
    locked.mkdir()
    fasta = tmp_path / "in.fasta"
    shutil.copy(FIX / "3VOP_A.fasta", fasta)
    shutil.copy(fasta, locked / "in.fasta")
    tiny_checkpoint(locked / "m.pt")
    cases = [
        ("predict", [str(fasta), "-m", str(locked / "m.pt")], "cannot read model file"),
        ("predict", [str(fasta), "-o", str(locked / "out.ss2")], "cannot write"),
        ("data", ["stats", str(locked / "in.fasta")], "Permission denied"),
        ("eval", [f"checkpoint={locked / 'm.pt'}", "data=casp12"], "cannot read model file"),
        ("eval", ["checkpoint=default", "data=casp12", f"data.casp12.path={locked / 'in.fasta'}"],
         "data 'casp12': cannot read"),
    ]
    os.chmod(locked, 0)
    try:
        r = subprocess.run([*prefix, sys.executable, "-c", DRIVER, json.dumps([c[:2] for c in cases])],
                           capture_output=True, text=True, timeout=300)
    finally:
        os.chmod(locked, 0o755)
    assert r.returncode == 0, r.stderr[-2000:]
    for (entry, args, words), (code, err) in zip(cases, json.loads(r.stdout.splitlines()[-1])):
        assert code == 2, (entry, args, err)
        assert str(locked) in one_line_error(err) and words in err and "Permission denied" in err, (args, err)


# ---- 8. SIGTERM: the clean-up of Ctrl-C, exit status 143 ----------------------------------------------------

def test_sigterm_removes_the_temporary_file(tmp_path):
    target = tmp_path / "out.ss2"
    target.write_text("old\n")
    script = textwrap.dedent("""
        import os, signal, sys, time
        from ss_predict.cli.args import guarded
        from ss_predict.core.files import atomic_path

        @guarded
        def main():
            with atomic_path(sys.argv[1]) as tmp:
                tmp.write_text("half")
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(30)
        main()
    """)
    r = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 143 and r.stderr == "terminated\n", r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ss2"] and target.read_text() == "old\n"


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


# ---- 8. devices: ss-eval writes through them as ss-predict does ---------------------------------------------

@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_eval_writes_through_devices(cwd, out_dir, capsys):
    code, out, err = run_cli(eval_main, capsys, "checkpoint=default", "data=casp12", "output=/dev/null")
    assert code == 0 and "wrote /dev/null" in out, err
    code, _, err = run_cli(eval_main, capsys, "checkpoint=default", "data=casp12", "output=/dev/full")
    assert code == 2 and "cannot write /dev/full: No space left on device" in one_line_error(err)
    code, _, err = run_cli(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-o", "/dev/full")
    assert code == 2 and "cannot write /dev/full: No space left on device" in one_line_error(err)


# ---- numeric and path options of ss-eval, ss-data audit and build ------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["max_tokens=0"], "max_tokens=0 must be at least 1"),
    (["max_tokens=null"], "max_tokens=None"),
    (["checkpoint=123"], "checkpoint=123: give checkpoint=PATH"),
    (["checkpoint=[default,null]"], "checkpoint=['default', None]"),
    (["output=''"], "output='': give a file path"),
    (["+data.casp12.limit=-1"], "data limit=-1"),
    (["+data.casp12.colour=2"], "format 'three_line' has no option colour"),
])
def test_eval_options_one_line(cwd, out_dir, capsys, args, words):
    code, _, err = run_cli(eval_main, capsys, "checkpoint=default", "data=casp12", *args)
    assert code == 2 and words in one_line_error(err)
    assert not out_dir.exists()


@pytest.mark.parametrize("flag, value", [("--identity", "nan"), ("--identity", "1.5"), ("--min-cover", "-0.1"),
                                         ("--evalue", "-1"), ("--evalue", "inf"), ("--min-aln-len", "0"),
                                         ("--min-contained", "-3"), ("--threads", "0")])
def test_audit_numeric_options_one_line(cwd, capsys, flag, value):
    code, out, err = run_cli(data_main, capsys, "audit", str(FIX / "3VOP_A.fasta"), str(FIX / "3VOP_A.fasta"),
                             flag, value)
    assert code == 2 and f"argument {flag}:" in one_line_error(err) and out == ""


@pytest.mark.parametrize("override, words", [("valid_fraction=0", "valid_fraction=0.0 must be above 0 and below 1"),
                                             ("identity=1.5", "identity=1.5"), ("mmseqs.evalue=-1", "above 0"),
                                             ("min_aln_len=0", "at least 1"), ("blast.threads=0", "at least 1")])
def test_build_numeric_options_one_line_before_any_work(cwd, out_dir, capsys, override, words):
    code, _, err = run_cli(data_main, capsys, "build", override)
    assert code == 2 and words in one_line_error(err)
    assert not out_dir.exists()
