"""ss-data: stats and convert on real sets; every damaged file of every format, a pipe, a SCRATCH label file and
every bad number of audit and build is one line with exit status 2."""
import gzip
import os

import pytest

from conftest import FIX, error_of, one_line_error, run_cli, writes_fail_past
from ss_predict.cli import data_main


@pytest.mark.data("cb513", "casp12")
def test_ss_data_stats_and_convert(data_root, tmp_path, capsys):
    code, out, err = run_cli(data_main, capsys, "stats", str(data_root / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv"))
    assert code == 0 and "scored residues:  83427" in out
    npy = tmp_path / "casp12.npy.gz"
    code, out, err = run_cli(data_main, capsys, "convert", str(data_root / "lift_ss_testsets/CASP12.txt"), str(npy),
                             "--to", "zhou")
    assert code == 0, err
    code, out, err = run_cli(data_main, capsys, "stats", str(npy))
    assert "proteins:         47" in out and "scored residues:  12442" in out
    code, out, err = run_cli(data_main, capsys, "convert", str(npy), str(tmp_path / "back.txt"), "--to", "fasta3")
    assert code == 0
    assert (tmp_path / "back.txt").read_text().split("\n")[1] == \
        (data_root / "lift_ss_testsets/CASP12.txt").read_text().split("\n")[1]
    code, out, err = run_cli(data_main, capsys, "stats", str(tmp_path / "missing.csv"))
    assert code == 2 and "file not found" in err


@pytest.mark.data("casp12")
def test_convert_to_zhou_prints_what_it_dropped(tmp_path, data_root, capsys):
    from ss_predict.cli import data_main
    data_main(["convert", str(data_root / "lift_ss_testsets/CASP12.txt"), str(tmp_path / "c.npy.gz"), "--to", "zhou"])
    out = capsys.readouterr().out
    assert "wrote 47 proteins (49 rows)" in out and "dropped 1276 residues without an 8-state label" in out


@pytest.mark.data("casp12")
@pytest.mark.parametrize("to, name", [("zhou", "c.npy.gz"), ("fasta3", "c.txt")])
def test_convert_on_a_full_disk_is_one_line_and_keeps_the_old_file(data_root, cwd, capsys, to, name):
    """Each file stops at 1 kB, as on a full disk: one line naming the output, exit 2, the file there before intact
    and no temporary file left."""
    (cwd / name).write_text("keep me\n")
    with writes_fail_past(1000):
        err = error_of(data_main, capsys, "convert", str(data_root / "lift_ss_testsets/CASP12.txt"), name, "--to", to)
    assert err == f"error: cannot write {name}: File too large\n"
    assert os.listdir(cwd) == [name] and (cwd / name).read_text() == "keep me\n"


@pytest.mark.parametrize("name, content, fmt, words", [
    ("a.txt", b">x\nMKV\xff\nCCC\n", "three_line", "not a UTF-8 text file"),
    ("b.txt", b">\nMKV\nCCC\n", "three_line", "has no id"),
    ("c.csv", b"id,len,input,expected\n1,x,MKV,CCC\n", "zhou_csv", "'x'"),
    ("d.csv", b"id,len,input,expected\n1,3,MKV,CC\xff\n", "zhou_csv", "not UTF-8 text"),
    ("e.csv", b"input,dssp3,dssp8,disorder\nM K,C C,C C,x y\n", "netsurfp_csv", "netsurfp_csv"),
    ("f.jsonl.gz", gzip.compress(b'{"id":"a","source":"s","split":"train","sequence":"MK","ss8":null,"ss3":"C\xff"}\n', mtime=0),
     "processed", "not UTF-8 text"),
])
def test_damaged_files_of_every_format_are_one_line(cwd, capsys, name, content, fmt, words):
    (cwd / name).write_bytes(content)
    err = error_of(data_main, capsys, "stats", name, "--format", fmt)
    assert name in err and words in err


@pytest.mark.data("casp12")
@pytest.mark.parametrize("damage, words", [
    (lambda lines: lines.__setitem__(5, lines[5][:-3]), "record '3jb5_C' (line 4): 315 residues but 312 labels"),
    (lambda lines: lines.__setitem__(4, lines[4][:9] + "7" + lines[4][10:]), "record '3jb5_C' position 10: '7' is not an amino-acid"),
    (lambda lines: lines.__setitem__(2, "Q" + lines[2][1:]), "line 3: record '2n64_C' position 1: 'Q' is not a DSSP"),
])
def test_a_damaged_three_line_file_is_refused_not_read_as_fasta(cwd, data_root, capsys, damage, words):
    lines = (data_root / "lift_ss_testsets/CASP12.txt").read_text().split("\n")
    damage(lines)
    (cwd / "c.txt").write_text("\n".join(lines))
    for command in (["stats", "c.txt"], ["convert", "c.txt", "c.npy.gz", "--to", "zhou"]):
        assert words in error_of(data_main, capsys, *command)
    assert not (cwd / "c.npy.gz").exists()


def test_a_netsurfp_csv_with_only_its_header_is_an_error(cwd, capsys):
    (cwd / "CB513_HHblits.csv").write_text("input,dssp3,dssp8,disorder,cb513_mask\n")
    assert "CB513_HHblits.csv: no records (only a header)" in error_of(data_main, capsys, "stats", "CB513_HHblits.csv")


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


def test_an_output_that_is_an_input_is_refused(cwd, capsys):
    """convert F F (or through a link) and audit A B -o A would replace an input with the result: one line, and
    the input untouched (the rule ss-predict's -o follows)."""
    text = ">x\nMKVL\nCCHC\n"
    (cwd / "a.txt").write_text(text)
    (cwd / "b.fa").write_text(">y\nMKVL\n")
    os.symlink("a.txt", cwd / "link.txt")
    for src, out in (("a.txt", "a.txt"), ("a.txt", "link.txt"), ("link.txt", "./a.txt")):
        err = error_of(data_main, capsys, "convert", src, out, "--to", "fasta3")
        assert f"output {out} is the input file {src}" in err, err
    for out, src in (("a.txt", "a.txt"), ("link.txt", "a.txt"), ("b.fa", "b.fa")):
        err = error_of(data_main, capsys, "audit", "a.txt:train", "b.fa", "-o", out)
        assert f"-o {out} is the input file {src}: the report would replace it" in err, err
    assert (cwd / "a.txt").read_text() == text and (cwd / "b.fa").read_text() == ">y\nMKVL\n"
    assert sorted(p.name for p in cwd.iterdir()) == ["a.txt", "b.fa", "link.txt"]


@pytest.mark.data("scratch1d")
def test_stats_refuses_a_scratch_label_file(data_root, capsys):
    folder = data_root / "scratch1d_sspro8"
    code, out, err = run_cli(data_main, capsys, "stats", str(folder / "SSpro8.dssp"))
    assert code == 2 and out == "" and "SCRATCH-1D label file" in one_line_error(err) and str(folder) in err
    code, out, err = run_cli(data_main, capsys, "stats", str(folder))
    assert code == 0 and "format:           scratch" in out and "proteins:         5772" in out


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
