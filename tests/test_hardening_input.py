"""Hostile input on the prediction path (issue #26): each case is one line and exit code 2 (or a clear
Python exception in the API), never a traceback, never a half-written or silently misplaced output."""
import gzip
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import torch

import ss_predict
from test_hardening_predict import one_line_error

FASTA = ">p1\nMKVLAAGIVGLLLAAHSEEVKKLLEEAGIDTSK\n>p2\nGSHMSEQLTEEQIAEFKEAFSLFDKDGDG\n"


def cli(*args, stdin=subprocess.DEVNULL, cwd=None, **kw):
    return subprocess.run([sys.executable, "-m", "ss_predict", *args], stdin=stdin, capture_output=True,
                          timeout=120, cwd=cwd, **kw)


def one_line(r, *words):
    one_line_error(r.returncode, r.stderr.decode() if isinstance(r.stderr, bytes) else r.stderr, *words)


@pytest.fixture
def fasta(tmp_path):
    p = tmp_path / "in.fasta"
    p.write_text(FASTA)
    return p


def test_empty_output_path_is_an_error_not_the_current_folder(fasta, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    one_line(cli(str(fasta), "-o", "", cwd=work), "-o is empty")
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("spec", ["", ",", " , ", "default,"])
def test_empty_model_specs(fasta, spec):
    one_line(cli(str(fasta), "-m", spec), "model")


def test_closed_stdin_is_one_line(tmp_path):
    r = subprocess.run(f"{sys.executable} -m ss_predict - <&-", shell=True, capture_output=True, timeout=120)
    one_line(r, "standard input")


def test_bom_and_crlf_are_read_as_editors_write_them(fasta, tmp_path):
    plain = cli(str(fasta))
    crlf = tmp_path / "win.fasta"
    crlf.write_bytes(b"\xef\xbb\xbf" + FASTA.replace("\n", "\r\n").encode())
    r = cli(str(crlf))
    assert r.returncode == 0 and r.stdout == plain.stdout, r.stderr


def test_gzip_bomb_is_refused_in_bounded_memory(tmp_path):
    """1 GiB of zeros packed into ~1 MB: refused as it unpacks (NUL bytes), with a few MB of Python memory."""
    bomb = tmp_path / "bomb.fa.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(b">x\n")
        block = b"\0" * (1 << 20)
        for _ in range(1024):
            fh.write(block)
    assert bomb.stat().st_size < 2 << 20
    from ss_predict.data.formats.fasta import parse_fasta
    tracemalloc.start()
    with pytest.raises(ss_predict.FormatError, match="binary data"):
        parse_fasta(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 << 20, peak
    long_line = tmp_path / "long.fa.gz"
    with gzip.open(long_line, "wb") as fh:
        fh.write(b">x\n" + b"A" * (40 << 20))
    with pytest.raises(ss_predict.FormatError, match="MiB long"):
        parse_fasta(long_line)


def test_api_rejects_non_string_sequences_and_bad_arguments():
    with pytest.raises(ss_predict.FormatError, match="record 'a'.*not a string"):
        ss_predict.predict({"a": None})
    with pytest.raises(ss_predict.FormatError, match="not a string"):
        ss_predict.predict([("b", 12345)])
    with pytest.raises(TypeError, match="model"):
        ss_predict.Predictor(model=None)
    with pytest.raises(ss_predict.UserError, match="model"):
        ss_predict.Predictor(model="")
    with pytest.raises(TypeError, match="max_tokens"):
        ss_predict.Predictor(max_tokens="100")
    with pytest.raises(TypeError, match="max_tokens"):
        ss_predict.Predictor(max_tokens=2.5)
    with pytest.raises(ValueError, match="max_tokens"):
        ss_predict.Predictor(max_tokens=0)


def test_non_finite_probabilities_are_never_written():
    pred = ss_predict.Predictor()
    with torch.no_grad():
        next(pred.models[0].parameters()).fill_(float("nan"))
    with pytest.raises(ss_predict.UserError, match="non-finite"):
        pred.predict(["MKVLAAGIVGLLLAAHSEEV"])


def test_folder_output_names_checked_before_any_file(tmp_path):
    fa = tmp_path / "n.fasta"
    fa.write_text(">ok\nMKVL\n>" + "y" * 260 + "\nMKVL\n")
    out = tmp_path / "out"
    one_line(cli(str(fa), "-o", f"{out}/"), "255 bytes")
    assert not out.exists() or list(out.iterdir()) == []


def test_id_cannot_leave_the_output_folder(tmp_path):
    fa = tmp_path / "t.fasta"
    fa.write_text(">../escape\nMKVLAAGIV\n>.hidden\nMKVL\n")
    out = tmp_path / "out"
    r = cli(str(fa), "-o", f"{out}/")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["_.._escape.ss2", "_.hidden.ss2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "t.fasta"]


def test_unreadable_input_is_one_line(tmp_path, monkeypatch):
    """Root reads any file, so the PermissionError is raised by a stand-in `open` for this one path."""
    from ss_predict.data.formats import fasta as fasta_mod
    p = tmp_path / "locked.fasta"
    p.write_text(FASTA)
    real_open = open

    def locked(path, *a, **k):
        if str(path) == str(p):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)
    monkeypatch.setattr(fasta_mod, "open", locked, raising=False)
    with pytest.raises(ss_predict.FormatError, match="permission denied"):
        fasta_mod.parse_fasta(p)
