"""Hardening, third round (issue #26 review): the same classes of careless input found in more places. Each case
is one line `error: ...` and exit status 2 (no traceback), nothing written, no result silently replaced or wrong."""
import copy
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch

import ss_predict
from ss_predict.cli import data_main, eval_main, predict_main, train_main
from ss_predict.errors import FormatError
from ss_predict.prediction.predictor import Predictor
from ss_predict.serve.cli import parse_args as serve_args
from test_hardening2 import FIX, tiny_checkpoint
from test_hardening_cli import TINY, one_line_error, run_cli

FASTA = FIX / "3VOP_A.fasta"
TWO = ">r1\nMKVLAAGIVALLLAAGCSSK\n>r2\nMQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEG\n"


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def error_of(entry, capsys, *args) -> str:
    code, out, err = run_cli(entry, capsys, *args)
    assert code == 2, (code, err)
    return one_line_error(err)


def stdin_of(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(text.encode()))))


# ---- ss-data: empty paths, a path ending in /, damaged fields of every reader --------------------------------

def test_empty_paths_and_a_file_path_ending_in_slash(cwd, capsys):
    assert "path is empty" in error_of(data_main, capsys, "stats", "")
    assert "path is empty" in error_of(data_main, capsys, "convert", str(FASTA), "", "--to", "fasta3")
    assert "path is empty" in error_of(predict_main, capsys, "")
    assert "path is empty" in error_of(predict_main, capsys, str(FASTA), "--profiles", "")
    # `x/` names a folder: it was written as a file `x`
    assert "ends in /" in error_of(data_main, capsys, "convert", str(FASTA), "out/", "--to", "fasta3")
    assert not (cwd / "out").exists()


@pytest.mark.parametrize("name, content, fmt, words", [
    ("a.txt", b">x\nMKV\xff\nCCC\n", "three_line", "not a UTF-8 text file"),
    ("b.txt", b">\nMKV\nCCC\n", "three_line", "has no id"),
    ("c.csv", b"id,len,input,expected\n1,x,MKV,CCC\n", "zhou_csv", "'x'"),
    ("d.csv", b"id,len,input,expected\n1,3,MKV,CC\xff\n", "zhou_csv", "not UTF-8 text"),
    ("e.csv", b"input,dssp3,dssp8,disorder\nM K,C C,C C,x y\n", "netsurfp_csv", "netsurfp_csv"),
    ("f.jsonl.gz", gzip.compress(b'{"id":"a","source":"s","split":"train","sequence":"MK","ss8":null,"ss3":"C\xff"}\n'),
     "processed", "not UTF-8 text"),
])
def test_damaged_files_of_every_format_are_one_line(cwd, capsys, name, content, fmt, words):
    (cwd / name).write_bytes(content)
    err = error_of(data_main, capsys, "stats", name, "--format", fmt)
    assert name in err and words in err


def test_damaged_files_name_the_problem(cwd, capsys):
    (cwd / "x.txt").write_bytes(b">\nMKV\nCCC\n")
    assert "line 1: record has no id" in error_of(data_main, capsys, "stats", "x.txt", "--format", "three_line")
    (cwd / "scr").mkdir()
    (cwd / "scr" / "Proteins.fa").write_text(">\nMK\n")
    (cwd / "scr" / "SSpro8.dssp").write_text(">a\nHH\n")
    assert "not a readable 'scratch' file" in error_of(data_main, capsys, "stats", "scr")


def test_three_line_file_with_bom_and_crlf_is_detected(cwd, capsys):
    (cwd / "l.txt").write_bytes(b"\xef\xbb\xbf>x\r\nMKVL\r\nCCHC\r\n")
    code, out, err = run_cli(data_main, capsys, "stats", "l.txt")
    assert code == 0 and "three_line" in out and "scored residues:  4" in out, out + err


def test_format_of_a_pipe_is_not_guessed_by_reading_it(cwd, capsys):
    os.mkfifo(cwd / "p")  # (detection would consume the head and the reader find the rest: 0 proteins)
    assert "pipe or device" in error_of(data_main, capsys, "stats", "p")
    assert "pipe or device" in error_of(data_main, capsys, "convert", "p", "o.fa", "--to", "fasta3")
    assert not (cwd / "o.fa").exists()


# ---- checkpoints: calibration, state_dict keys, weights that do not fit --------------------------------------

def _damaged(path: Path, edit) -> Path:
    ck = torch.load(tiny_checkpoint(path.with_name("ok.pt")), weights_only=True)
    edit(ck)
    torch.save(ck, path)
    return path


@pytest.mark.parametrize("edit, words", [
    (lambda c: c.update(calibration={"temperature": "hot"}), "'calibration.temperature' is 'hot'"),
    (lambda c: c.update(calibration={"temperature": -1.0}), "'calibration.temperature' is -1.0"),  # flips argmax
    (lambda c: c.update(calibration={"temperature3": 0.0}), "'calibration.temperature3' is 0.0"),
    (lambda c: c.update(calibration={"temperature": float("nan")}), "is nan"),
    (lambda c: c.update(calibration={"temperature": None}), "is None"),
    (lambda c: c.update(calibration=[1, 2]), "'calibration' is list"),
    (lambda c: c["state_dict"].update({1: torch.zeros(2)}), "has the key 1"),
    (lambda c: c.update(state_dict={}), "missing stem.weight"),
    (lambda c: c["state_dict"].update({"extra.weight": torch.zeros(2)}), "unexpected extra.weight"),
])
def test_damaged_checkpoint_fields_are_one_line(tmp_path, cwd, capsys, edit, words):
    bad = _damaged(tmp_path / "bad.pt", edit)
    err = error_of(predict_main, capsys, str(FASTA), "-m", str(bad), "-o", "out.ss2")
    assert str(bad) in err and words in err
    assert not (cwd / "out.ss2").exists()


def test_good_calibration_is_accepted(tmp_path, capsys):
    ok = _damaged(tmp_path / "cal.pt", lambda c: c.update(calibration={"temperature": 1.5, "temperature3": 0.8}))
    assert run_cli(predict_main, capsys, str(FASTA), "-m", str(ok))[0] == 0


@pytest.mark.data("casp12")
def test_damaged_calibration_is_one_line_in_eval(tmp_path, cwd, out_dir, capsys):
    bad = _damaged(tmp_path / "bad.pt", lambda c: c.update(calibration={"temperature": "hot"}))
    assert "calibration.temperature" in error_of(eval_main, capsys, f"checkpoint={bad}", "data=casp12")


# ---- ss-train: non-finite numbers, run names, empty groups, divergence --------------------------------------

@pytest.mark.parametrize("override, words", [
    ("trainer.lr=nan", "trainer.lr=nan must be a finite number"),
    ("trainer.lr=inf", "trainer.lr=inf must be a finite number"),
    ("trainer.max_minutes=nan", "must be a finite number"),
    ("name=../../escaped", "name='../../escaped'"),
    ("name=", "name=''"),
    ("name=/abs", "name='/abs'"),
    ("data=[]", "data is empty"),
    ("model=[]", "model is empty"),
])
def test_train_options_one_line_and_nothing_made(cwd, out_dir, capsys, override, words):
    assert words in error_of(train_main, capsys, *TINY, override)
    assert not out_dir.exists() and not (cwd / "escaped").exists() and not (out_dir.parent / "escaped").exists()


def test_eval_empty_data_group_is_one_line(cwd, out_dir, capsys):
    assert "data is empty" in error_of(eval_main, capsys, "checkpoint=default", "data=[]")


@pytest.mark.data("tiny")
def test_diverged_training_saves_no_checkpoint(cwd, out_dir, capsys):
    err = error_of(train_main, capsys, *TINY, "trainer.lr=1e30")
    assert "training diverged in epoch 1" in err and "trainer.lr" in err
    run = out_dir / "runs" / "phd_s0"
    assert not (run / "best.pt").exists() and not (run / "last.pt").exists()


# ---- numeric options of ss-predict and ss-serve -------------------------------------------------------------

@pytest.mark.parametrize("entry, args, words", [
    ("predict_main", [str(FASTA), "--threads", "100000"], "argument --threads: must be at least 1 and at most 1024"),
    ("train_main", [*TINY, "trainer.threads=100000"], "trainer.threads=100000 must be at least 1 and at most 1024"),
])
def test_thread_counts_that_crash_torch_are_refused(cwd, out_dir, entry, args, words):
    """torch.set_num_threads(100000) is a segmentation fault: run in a child, so that a regression fails here."""
    r = subprocess.run([sys.executable, "-c", f"import sys; from ss_predict.cli import {entry}; {entry}(sys.argv[1:])",
                        *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and words in one_line_error(r.stderr), (r.returncode, r.stderr[-500:])
    assert not out_dir.exists()


def test_serve_thread_count_is_capped(capsys):
    with pytest.raises(SystemExit) as e:
        serve_args(["--threads", "100000"])
    assert e.value.code == 2 and "at most 1024" in one_line_error(capsys.readouterr().err)


def test_serve_port_takes_ascii_digits_only(capsys):
    with pytest.raises(SystemExit) as e:
        serve_args(["--port", "²"])  # str.isdigit() is true, int() fails
    assert e.value.code == 2 and "'²' is not a port number" in one_line_error(capsys.readouterr().err)


def test_empty_shard_is_an_error_not_the_whole_input(cwd, capsys):
    assert "--shard ''" in error_of(predict_main, capsys, str(FASTA), "--shard", "", "-o", "o.ss2")
    assert not (cwd / "o.ss2").exists()


# ---- outputs: the input itself, folder names, pipes read once ----------------------------------------------

def test_output_that_is_the_input_is_refused(cwd, capsys):
    (cwd / "in.fasta").write_text(TWO)
    (cwd / "link.ss2").symlink_to("in.fasta")
    for out in ("in.fasta", "link.ss2"):
        assert "is the input file" in error_of(predict_main, capsys, "in.fasta", "-o", out)
    assert (cwd / "in.fasta").read_text() == TWO


def test_id_that_fits_255_but_not_its_temporary_file_fails_before_any_file(cwd, capsys):
    (cwd / "in.fasta").write_text(">short\nMKVLA\n>" + "L" * 240 + "\nMKVLAAG\n")
    assert "255 bytes" in error_of(predict_main, capsys, "in.fasta", "-o", "out/")
    assert not (cwd / "out").exists()


@pytest.mark.parametrize("text, words", [
    (">a/b\nMKVLA\n>a_b\nMKVLA\n", "both map to the file name 'a_b.ss2'"),  # the second replaced the first
    (">short\nMKVLA\n>" + "L" * 300 + "\nMKV\n", "255 bytes"),
])
def test_stdin_to_a_folder_checks_file_names(cwd, capsys, monkeypatch, text, words):
    stdin_of(monkeypatch, text)
    assert words in error_of(predict_main, capsys, "-", "-o", "out/")
    assert not (cwd / "out").exists()


def predict_child(*args, timeout=120):
    """ss-predict in a child process (a regression that blocks on a FIFO fails the test instead of hanging it)."""
    return subprocess.run([sys.executable, "-m", "ss_predict", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_pipe_input_is_read_once(cwd, capsys):
    (cwd / "in.fasta").write_text(TWO)
    assert run_cli(predict_main, capsys, "in.fasta", "-o", "want.ss2")[0] == 0
    os.mkfifo(cwd / "fifo")

    def feed():
        with open(cwd / "fifo", "w") as fh:
            fh.write(TWO)
    threading.Thread(target=feed, daemon=True).start()
    r = predict_child("fifo", "-o", "got.ss2")  # was: "fifo: empty file", or blocked (read twice)
    assert r.returncode == 0, r.stderr
    assert (cwd / "got.ss2").read_text() == (cwd / "want.ss2").read_text()
    assert "cannot be read twice" in error_of(predict_main, capsys, "fifo", "-o", "x.ss2", "--shard", "1/2")


def test_closed_stdout_for_a_picture_is_one_line(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    code, _, err = run_cli(predict_main, capsys, str(FASTA), "-f", "svg")
    assert code == 2 and "standard output is closed" in one_line_error(err)


# ---- profiles: a FIFO or device would hang the run; a dangling link; an unreadable folder ----------------

def test_profile_that_is_a_pipe_or_a_dangling_link(tmp_path, cwd, capsys):
    model = tiny_checkpoint(tmp_path / "prof.pt", "onehot+profile")
    (cwd / "p1").mkdir()
    os.mkfifo(cwd / "p1" / "3VOP_A.pssm")  # was: blocked for ever, waiting for a writer
    r = predict_child(str(FASTA), "-m", str(model), "--profiles", "p1")
    assert r.returncode == 2 and "pipe or device" in one_line_error(r.stderr), r.stderr
    (cwd / "p2").mkdir()
    (cwd / "p2" / "3VOP_A.pssm").symlink_to(cwd / "gone.pssm")
    assert "symbolic link to a missing file" in error_of(predict_main, capsys, str(FASTA), "-m", str(model),
                                                         "--profiles", "p2")
    assert "No such file" in error_of(predict_main, capsys, str(FASTA), "-m", str(model), "--profiles", "nope")


# ---- --resume with a damaged journal --------------------------------------------------------------------

MANY = "".join(f">s{i}\n{'MKVLAAGIVALLLAAGCSSKQIFV'[i % 7:]}\n" for i in range(6))


def _interrupted_run(cwd, capsys, monkeypatch, after: int = 2):
    """-o out.ss2 with one record per window, stopped (Ctrl-C) before window `after`: part file and journal."""
    (cwd / "in.fasta").write_text(MANY)
    original, calls = Predictor._write, [0]

    def write(self, *a, **k):
        calls[0] += 1
        if calls[0] > after:
            raise KeyboardInterrupt
        return original(self, *a, **k)
    with monkeypatch.context() as m:
        m.setattr(Predictor, "_write", write)
        assert run_cli(predict_main, capsys, "in.fasta", "-o", "out.ss2", "--window", "1")[0] == 130
    return cwd / ".out.ss2.ss-predict-resume"


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(bytes=10 ** 6), "fewer than the 1000000"),   # was: the output padded with zero bytes
    (lambda d: d.update(windows=10 ** 6), "says 1000000 windows"),   # was: the rest silently left out
    (lambda d: d.update(windows=1), "says 1 windows (2 records)"),    # was: records written twice
    (lambda d: d.update(records=-3), "not a readable ss-predict resume journal"),
    (lambda d: d.update(bytes="x"), "not a readable ss-predict resume journal"),
    (lambda d: d.update(done="yes"), "not a readable ss-predict resume journal"),
    (lambda d: d.update(fingerprint=5), "not a readable ss-predict resume journal"),
])
def test_resume_with_a_damaged_journal_is_one_line(cwd, capsys, monkeypatch, edit, words):
    journal = _interrupted_run(cwd, capsys, monkeypatch)
    state = json.loads(journal.read_text())
    assert (state["windows"], state["records"]) == (2, 2)
    edit(state)
    journal.write_text(json.dumps(state))
    assert words in error_of(predict_main, capsys, "in.fasta", "-o", "out.ss2", "--window", "1", "--resume")
    assert not (cwd / "out.ss2").exists()


def test_resume_with_a_good_journal_gives_the_whole_output(cwd, capsys, monkeypatch):
    _interrupted_run(cwd, capsys, monkeypatch)
    assert run_cli(predict_main, capsys, "in.fasta", "-o", "out.ss2", "--window", "1", "--resume")[0] == 0
    assert run_cli(predict_main, capsys, "in.fasta", "-o", "fresh.ss2", "--window", "1")[0] == 0
    assert (cwd / "out.ss2").read_text() == (cwd / "fresh.ss2").read_text()
    assert sorted(p.name for p in cwd.iterdir()) == ["fresh.ss2", "in.fasta", "out.ss2"]


def test_sigterm_during_prediction_is_status_143_and_resumable(cwd):
    (cwd / "in.fasta").write_text(MANY)
    script = textwrap.dedent("""
        import os, signal, sys
        from ss_predict.cli import predict_main
        from ss_predict.prediction.predictor import Predictor
        original, calls = Predictor._write, [0]
        def write(self, *a, **k):
            calls[0] += 1
            if calls[0] == 3:
                os.kill(os.getpid(), signal.SIGTERM)
            return original(self, *a, **k)
        Predictor._write = write
        predict_main(sys.argv[1:])
    """)
    args = ["in.fasta", "-o", "out.ss2", "--window", "1"]
    r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 143 and r.stderr.endswith("terminated\n"), r.stderr  # was 130 "interrupted"
    assert "--resume" in r.stderr and not [p for p in cwd.iterdir() if p.name.endswith(".tmp")]
    r = subprocess.run([sys.executable, "-m", "ss_predict", *args, "--resume"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert (cwd / "out.ss2").read_text().count("# record:") == 6


# ---- the Python API -----------------------------------------------------------------------------------

def test_api_odd_arguments(tmp_path, capsys):
    with pytest.raises(FormatError, match="record 1 has an id of type NoneType"):
        ss_predict.predict({None: "MKV"})  # was: a record named 'None'
    with pytest.raises(TypeError, match="got bytes"):
        ss_predict.predict(b"MKV")  # was: "item 1 is a int"
    with pytest.raises(TypeError, match="expected Prediction objects"):
        ss_predict.write([None], tmp_path / "x.ss2")
    assert not (tmp_path / "x.ss2").exists()
    ss_predict.write([], tmp_path / "e.json", "json")
    assert json.loads((tmp_path / "e.json").read_text()) == []  # was "]"
    counts = Predictor().run(str(FASTA), str(tmp_path / "s.ss2"), shard="1/1")
    assert counts["records"] == 1


def test_eval_output_that_cannot_be_written_is_refused_before_scoring(tmp_path, cwd, capsys):
    from ss_predict.cli import eval_main
    (tmp_path / "dir").mkdir()
    for output, words in ((f"{tmp_path}/dir/", "not a folder"), (f"{tmp_path}/dir", "it is a folder"),
                          (f"{tmp_path}/afile/x.json", "is a file, not a folder")):
        (tmp_path / "afile").write_text("")
        code, _, err = run_cli(eval_main, capsys, "checkpoint=default", "data=casp12", f"output={output}")
        assert code == 2 and words in one_line_error(err) and "Q3" not in err
