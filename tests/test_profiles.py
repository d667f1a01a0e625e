"""Profiles (PSSM, HHM) to Zhou columns; --profiles DIR: file names by the -o DIR/ rule, never outside DIR, every
damaged, missing, binary, pipe or linked profile one line."""
import os
import shutil

import numpy as np
import pytest

from conftest import FIX, error_of, one_line_error, predict_child, run_cli, tiny_checkpoint
from ss_predict.cli import predict_main
from ss_predict.errors import FormatError, UserError
from ss_predict.data.formats.fasta import read_fasta
from ss_predict.data.formats.zhou import ZHOU_PROFILE
from ss_predict.data.profiles import attach_profiles, read_hhm, read_pssm

SEQ = read_fasta(FIX / "3VOP_A.fasta")[0].sequence


def test_pssm_to_zhou_columns():
    seq, prof = read_pssm(FIX / "3VOP_A.pssm")
    assert seq == SEQ and prof.shape == (64, 22)
    # row 1 is S with PSSM score 4 for S and -3 for W: logistic of the score, Zhou column order
    assert prof[0, ZHOU_PROFILE.index("S")] == pytest.approx(1 / (1 + np.exp(-4)))
    assert prof[0, ZHOU_PROFILE.index("W")] == pytest.approx(1 / (1 + np.exp(3)))
    assert (prof[:, [ZHOU_PROFILE.index("X"), 21]] == 0).all()  # X and NoSeq columns
    # the residue's own column is (nearly always) the row maximum
    own = prof[np.arange(64), [ZHOU_PROFILE.index(a) for a in seq]]
    assert (own >= prof[:, :20].max(1) - 1e-6).mean() > 0.9


def test_hhm_to_zhou_columns():
    seq, prof = read_hhm(FIX / "3VOP_A.hhm")
    assert seq == SEQ and prof.shape == (64, 22)
    assert ((prof >= 0) & (prof <= 1)).all()
    assert (prof[np.arange(64), [ZHOU_PROFILE.index(a) for a in seq]] > 0.99).all()


def test_attach_profiles_checks_sequences(tmp_path):
    p = read_fasta(FIX / "3VOP_A.fasta")
    attach_profiles(p, FIX)
    assert p[0].profile.shape == (64, 22)
    other = tmp_path / "3VOP_A.pssm"
    other.write_text((FIX / "3VOP_A.pssm").read_text().replace("    1 S ", "    1 W "))
    with pytest.raises(UserError, match="residue 1 is 'W'"):
        attach_profiles(read_fasta(FIX / "3VOP_A.fasta"), tmp_path)
    with pytest.raises(UserError, match="no 3VOP_A.pssm or 3VOP_A.hhm"):
        attach_profiles(read_fasta(FIX / "3VOP_A.fasta"), tmp_path / "..")
    (tmp_path / "junk.pssm").write_text("hello\n")
    with pytest.raises(FormatError, match="not a PSI-BLAST ASCII PSSM"):
        read_pssm(tmp_path / "junk.pssm")


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


def test_profile_that_is_a_pipe_or_a_dangling_link(tmp_path, cwd, capsys):
    model = tiny_checkpoint(tmp_path / "prof.pt", "onehot+profile")
    (cwd / "p1").mkdir()
    os.mkfifo(cwd / "p1" / "3VOP_A.pssm")  # was: blocked for ever, waiting for a writer
    r = predict_child(str(FIX / "3VOP_A.fasta"), "-m", str(model), "--profiles", "p1")
    assert r.returncode == 2 and "pipe or device" in one_line_error(r.stderr), r.stderr
    (cwd / "p2").mkdir()
    (cwd / "p2" / "3VOP_A.pssm").symlink_to(cwd / "gone.pssm")
    assert "symbolic link to a missing file" in error_of(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-m", str(model),
                                                         "--profiles", "p2")
    assert "No such file" in error_of(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-m", str(model), "--profiles", "nope")


def test_profile_model_needs_profiles(tmp_path, capsys):
    model = tiny_checkpoint(tmp_path / "prof.pt", "onehot+profile")
    assert "needs profiles" in error_of(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "--model", str(model),
                                        "-o", str(tmp_path / "o.ss2"))
    assert not (tmp_path / "o.ss2").exists()
    code, out, err = run_cli(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "--model", str(model),
                             "--profiles", str(FIX), "-f", "fasta")
    assert code == 0 and out.splitlines()[0] == ">3VOP_A", err
