"""ss-predict: the bundled model, every output format, and careless inputs and outputs: each refusal is one line on
stderr, exit status 2, nothing half-written; stdin, gzip, devices, FIFOs and symbolic links are read or written
through, never replaced."""
import collections
import contextlib
import gzip
import io
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import FASTA, FIX, error_of, one_line_error, predict_child, refused, run_cli
from ss_predict.checkpoint.loading import bundled_models
from ss_predict.cli import predict_main
from ss_predict.core.alphabet import SS3, SS8

DNA = ">gene1 a coding sequence\nATGGCTAGCAAAGGAGAAGAACTTTTCACTGGAGTTGTCCCAATTCTTGTTGAATTAGATGGTGATGTTAAT\n"
Result = collections.namedtuple("Result", "returncode stdout stderr")
TWO = ">r1\nMKVLAAGIVALLLAAGCSSK\n>r2\nMQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEG\n"


class Tty(io.StringIO):
    def isatty(self):
        return True


def run(*args, stdin: bytes | None = None, stderr=None):
    """ss-predict in this process (start-up is tested by the child-process cases): (returncode, stdout, stderr)."""
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            predict_main(list(args))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.stdin = old_stdin
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The ss2 text of FASTA written to standard output (what every other route must reproduce)."""
    p = tmp_path_factory.mktemp("ref") / "in.fasta"
    p.write_text(FASTA)
    code, out, err = run(str(p))
    assert code == 0, err
    return out


def test_missing_input_and_folder_input(tmp_path):
    refused(run(str(tmp_path / "none.fasta")), "none.fasta", "file not found")
    refused(run(str(tmp_path)), "is a folder")


def test_stdin_and_gzip_input_predict_the_same(fasta, tmp_path, reference):
    code, out, err = run("-", stdin=FASTA.encode())
    assert code == 0 and out == reference, err
    gz = tmp_path / "in.fa.gz"
    gz.write_bytes(gzip.compress(FASTA.encode()))
    code, out, err = run(str(gz))
    assert code == 0 and out == reference, err
    code, out, err = run("-", stdin=gzip.compress(FASTA.encode()))
    assert code == 0 and out == reference, err
    bad = tmp_path / "cut.fa.gz"
    bad.write_bytes(gzip.compress(FASTA.encode())[:30])
    refused(run(str(bad)), "cut.fa.gz", "gzip")


def test_output_dash_is_stdout(fasta, reference):
    code, out, _ = run(str(fasta), "-o", "-")
    assert code == 0 and out == reference


def test_symlink_is_followed_and_kept(fasta, tmp_path, reference):
    target = tmp_path / "real.ss2"
    target.write_text("old\n")
    link = tmp_path / "link.ss2"
    link.symlink_to(target)
    code, _, err = run(str(fasta), "-o", str(link))
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == reference
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fasta", "link.ss2", "real.ss2"]  # no temp left


def test_fifo_is_written_through_not_replaced(fasta, tmp_path, reference):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    link = tmp_path / "to_pipe"  # a link to a device-like file: written through as well
    link.symlink_to(fifo)
    code, _, err = run(str(fasta), "-o", str(link))
    reader.join(timeout=30)
    assert code == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and link.is_symlink()
    assert got == [reference]


def test_unwritable_output_folder(fasta, tmp_path):
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            refused(run(str(fasta), "-o", str(ro / "out.ss2")), "read-only or not writable")
            assert list(ro.iterdir()) == []
        finally:
            ro.chmod(0o700)
    else:  # root writes into a chmod'ed folder anyway: a parent that is a file fails for everyone
        refused(run(str(fasta), "-o", str(fasta / "sub" / "out.ss2")), "is a file, not a folder")


def test_parent_of_output_is_a_file(fasta, tmp_path):
    refused(run(str(fasta), "-o", str(fasta / "out.ss2")), "in.fasta", "not a folder")
    refused(run(str(fasta), "-o", str(fasta) + "/"), "not a folder")  # one file per record
    assert fasta.read_text() == FASTA


def test_full_stdout_is_one_line(fasta):
    with open("/dev/full", "w") as full:  # only opened for writing (a subprocess stdout), never replaced
        r = subprocess.run([sys.executable, "-m", "ss_predict", str(fasta)], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    refused(r, "standard output", "No space left")


@pytest.mark.parametrize("args,words", [
    (["--device", "gpu"], ["unknown device 'gpu'", "auto, cpu, cuda"]),
    (["--threads", "0"], ["--threads", "at least 1"]),
    (["--max-tokens", "0"], ["--max-tokens", "at least 1"]),
    (["--threads", "two"], ["--threads", "not a whole number"]),
    (["-f", "pdb"], ["invalid choice"]),
])
def test_bad_options_one_line(fasta, tmp_path, args, words):
    out = tmp_path / "o.ss2"
    refused(run(str(fasta), "-o", str(out), *args), *words)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_one_line(fasta):
    for dev in ("cuda", "cuda:1"):
        refused(run(str(fasta), "--device", dev), f"device '{dev}'", "no CUDA device")


def test_nucleotide_input_refused_unless_allowed(tmp_path):
    f = tmp_path / "mixed.fasta"
    f.write_text(FASTA + DNA)
    refused(run(str(f), "-o", str(tmp_path / "o.ss2")), "'gene1'", "nucleotide", "--allow-nucleotide")
    assert not (tmp_path / "o.ss2").exists()
    code, out, err = run(str(f), "--allow-nucleotide", "-f", "fasta")
    assert code == 0 and [ln for ln in out.splitlines() if ln.startswith(">")] == [">p1", ">p2", ">p3", ">gene1"], err
    code, out, err = run(str(f), "--skip-invalid", "-f", "fasta")  # with --skip-invalid it is listed, not predicted
    assert code == 0 and ">gene1" not in out and "skipped" in err and "'gene1'" in err


def test_progress_bar_by_residues_only_on_a_terminal(fasta):
    total = sum(len(line) for line in FASTA.splitlines() if not line.startswith(">"))
    code, _, err = run(str(fasta), stderr=Tty())
    assert code == 0 and f"{total}/{total}" in err and "res" in err  # a few records: still a bar
    code, _, err = run(str(fasta), "--quiet", stderr=Tty())
    assert code == 0 and err == ""
    code, _, err = run(str(fasta))  # not a terminal: silent
    assert code == 0 and err == ""


def test_json_floats_have_four_decimals(fasta):
    code, out, _ = run(str(fasta), "-f", "json")
    assert code == 0
    for rec in json.loads(out):
        for row in rec["p8"] + rec["p3"]:
            assert all(v == round(v, 4) and len(repr(v)) <= 6 for v in row)


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
def test_formats_and_determinism(fasta, tiny_run, tmp_path):
    outs = {}
    for fmt in ("ss2", "horiz", "fasta", "csv", "json"):
        r = run(str(fasta), "--model", str(tiny_run / 'best.pt'), "-f", fmt)
        assert r.returncode == 0, r.stderr
        outs[fmt] = r.stdout
        assert run(str(fasta), "--model", str(tiny_run / 'best.pt'), "-f", fmt).stdout == r.stdout  # deterministic
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
    r = run(str(fasta), "--model", str(tiny_run / 'best.pt'), "-f", "ss2", "-o", str(tmp_path / "per") + "/")
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


@pytest.mark.data("tiny")
def test_skip_invalid(tmp_path, tiny_run):
    f = tmp_path / "mixed.fasta"
    f.write_text(">good\nMKVLA\n>bad\nMK1\n>good2\nACDEF\n")
    r = run(str(f), "--model", str(tiny_run / 'best.pt'), "--skip-invalid", "-f", "fasta")
    assert r.returncode == 0
    assert [ln for ln in r.stdout.splitlines() if ln.startswith(">")] == [">good", ">good2"]
    assert "'bad' position 3" in r.stderr


@pytest.mark.data("tiny")
def test_consensus_and_profile_refusal(fasta, tiny_run, tmp_path):
    r = run(str(fasta), "--model", f"{tiny_run / 'best.pt'},{tiny_run / 'best.pt'}", "-f", "json")
    single = run(str(fasta), "--model", str(tiny_run / 'best.pt'), "-f", "json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["ss8"] == json.loads(single.stdout)[0]["ss8"]
    warn = run(str(fasta), "--model", str(tiny_run / 'best.pt'), "--profiles", str(tmp_path), "-f", "fasta")
    assert warn.returncode == 0 and "ignored" in warn.stderr


def test_empty_output_path_is_an_error_not_the_current_folder(fasta, cwd):
    refused(run(str(fasta), "-o", ""), "-o is empty")
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("spec", ["", ",", " , ", "default,"])
def test_empty_model_specs(fasta, spec):
    refused(run(str(fasta), "-m", spec), "model")


def test_closed_stdin_is_one_line(tmp_path):
    r = subprocess.run(f"{sys.executable} -m ss_predict - <&-", shell=True, capture_output=True, text=True, timeout=120)
    refused(r, "standard input")


def test_bom_and_crlf_are_read_as_editors_write_them(tmp_path, reference):
    crlf = tmp_path / "win.fasta"
    crlf.write_bytes(b"\xef\xbb\xbf" + FASTA.replace("\n", "\r\n").encode())
    r = run(str(crlf))
    assert r.returncode == 0 and r.stdout == reference, r.stderr


def test_id_cannot_leave_the_output_folder(tmp_path):
    fa = tmp_path / "t.fasta"
    fa.write_text(">../escape\nMKVLAAGIV\n>.hidden\nMKVL\n")
    out = tmp_path / "out"
    r = run(str(fa), "-o", f"{out}/")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["_.._escape.ss2", "_.hidden.ss2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "t.fasta"]


def test_empty_shard_is_an_error_not_the_whole_input(cwd, capsys):
    assert "--shard ''" in error_of(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "--shard", "", "-o", "o.ss2")
    assert not (cwd / "o.ss2").exists()


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


def stdin_of(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(text.encode()))))


@pytest.mark.parametrize("text, words", [
    (">a/b\nMKVLA\n>a_b\nMKVLA\n", "both map to the file name 'a_b.ss2'"),  # the second replaced the first
    (">short\nMKVLA\n>" + "L" * 300 + "\nMKV\n", "255 bytes"),
])
def test_stdin_to_a_folder_checks_file_names(cwd, capsys, monkeypatch, text, words):
    stdin_of(monkeypatch, text)
    assert words in error_of(predict_main, capsys, "-", "-o", "out/")
    assert not (cwd / "out").exists()


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
    code, _, err = run_cli(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-f", "svg")
    assert code == 2 and "standard output is closed" in one_line_error(err)


@pytest.mark.parametrize("where, error", [
    ("forward", RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                             "you tried to allocate 34359738368 bytes. Error code 12 (Cannot allocate memory)")),
    ("forward", torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")),
    ("forward", MemoryError()),
    ("reading", MemoryError())])
def test_out_of_memory_is_one_line(cwd, capsys, monkeypatch, tiny_ckpt, where, error):
    """In a forward pass the line names the record and what to do; anywhere else, what to do (was a traceback)."""
    from ss_predict.models.dilated_cnn import DilatedCNN
    from ss_predict.prediction import predictor

    def fail(*a, **k):
        raise error
    monkeypatch.setattr(*(DilatedCNN, "forward") if where == "forward" else (predictor, "scan_fasta"), fail)
    (cwd / "in.fasta").write_text(TWO)
    words = ("out of memory", "record 'r1'", "--max-tokens") if where == "forward" else ("out of memory",)
    refused(run_cli(predict_main, capsys, "in.fasta", "-m", str(tiny_ckpt), "-o", "out.ss2"), *words)
    assert sorted(p.name for p in cwd.iterdir()) == ["in.fasta"]


# the columns and keys of an SS-only model's outputs before the task heads (issue #33): they must not change
OLD_CSV_HEADER = ("id,position,residue,ss8,ss3,p8_C,p8_B,p8_E,p8_G,p8_I,p8_H,p8_S,p8_T,p3_H,p3_E,p3_C")
OLD_JSON_KEYS = ["id", "sequence", "ss8", "ss3", "p8", "p3", "states8", "states3"]
NETSURFP3_HEADER = ("id, seq, n, rsa, asa, q3, p[q3_H], p[q3_E], p[q3_C], q8, p[q8_G], p[q8_H], p[q8_I], p[q8_B], "
                    "p[q8_E], p[q8_S], p[q8_T], p[q8_C], phi, psi, disorder")  # NetSurfP-3.0's client, verbatim


def test_an_ss_only_model_writes_the_columns_it_always_wrote(fasta, tiny_ckpt, tmp_path):
    """No rsa / asa / phi / psi / disorder column or key appears for a model without those tasks."""
    import pyarrow.parquet as pq
    r = run(str(fasta), "-m", str(tiny_ckpt), "-f", "csv")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0] == OLD_CSV_HEADER and all(len(row.split(",")) == 16 for row in rows)
    for fmt in ("json", "jsonl"):
        r = run(str(fasta), "-m", str(tiny_ckpt), "-f", fmt)
        recs = json.loads(r.stdout) if fmt == "json" else [json.loads(ln) for ln in r.stdout.splitlines()]
        assert len(recs) == 3 and all(list(rec) == OLD_JSON_KEYS for rec in recs)
    assert run(str(fasta), "-m", str(tiny_ckpt), "-f", "parquet", "-o", str(tmp_path / "o.parquet")).returncode == 0
    assert pq.read_schema(tmp_path / "o.parquet").names == OLD_CSV_HEADER.split(",")


def test_a_multitask_model_adds_its_values_to_csv_json_and_parquet(fasta, tiny_mt_ckpt, tmp_path):
    import pyarrow.parquet as pq
    more = ["rsa", "asa", "phi", "psi", "disorder"]
    r = run(str(fasta), "-m", str(tiny_mt_ckpt), "-f", "csv")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0] == ",".join([OLD_CSV_HEADER, *more]) and len(rows) == 1 + 33 + 43 + 4
    recs = json.loads(run(str(fasta), "-m", str(tiny_mt_ckpt), "-f", "json").stdout)
    for rec in recs:
        assert list(rec) == OLD_JSON_KEYS[:6] + more + OLD_JSON_KEYS[6:]
        assert all(len(rec[k]) == len(rec["sequence"]) for k in more)
    assert run(str(fasta), "-m", str(tiny_mt_ckpt), "-f", "parquet", "-o", str(tmp_path / "o.parquet")).returncode == 0
    assert pq.read_schema(tmp_path / "o.parquet").names == OLD_CSV_HEADER.split(",") + more


def test_netsurfp_format_is_netsurfp3_csv_one_row_per_residue(fasta, tiny_mt_ckpt, tmp_path):
    out = tmp_path / "o.csv"
    r = run(str(fasta), "-m", str(tiny_mt_ckpt), "-f", "netsurfp", "-o", str(out))
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == NETSURFP3_HEADER
    rows = [ln.split(",") for ln in lines[1:]]
    assert len(rows) == 33 + 43 + 4  # every residue of every record, one header
    assert all(len(row) == 21 for row in rows)
    seqs = {"p1": "MKVLAAGIVGLLLAAHSEEVKKLLEEAGIDTSK", "p2": "GSHMSEQLTEEQIAEFKEAFSLFDKDGDGTITTKELGTVMRSL",
            "p3": "ACDW"}
    for rid, seq in seqs.items():
        mine = [row for row in rows if row[0].split()[0] == f">{rid}"]
        assert "".join(row[1] for row in mine) == seq and [int(row[2]) for row in mine] == list(range(1, len(seq) + 1))
    for row in rows:
        rsa, asa, phi, psi, dis = map(float, (row[3], row[4], row[18], row[19], row[20]))
        assert 0 <= rsa <= 1 and asa >= 0 and -180 <= phi <= 180 and -180 <= psi <= 180 and 0 <= dis <= 1
        assert row[5] in "HEC" and row[9] in "GHIBESTC"
        assert abs(sum(map(float, row[6:9])) - 1) < 1e-3 and abs(sum(map(float, row[10:18])) - 1) < 1e-3


def test_the_bundled_ss_only_model_predicts_the_readmes_horiz_byte_for_byte():
    """The README's `ss-predict examples/example.fasta -f horiz` block, written before the task heads existed: the
    SS-only default still predicts exactly that (ss2 and horiz stay byte-identical)."""
    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    block = readme[readme.index("`ss-predict examples/example.fasta -f horiz`"):].split("```")[1].strip("\n")
    r = run(str(repo / "examples" / "example.fasta"), "-f", "horiz")
    assert r.returncode == 0, r.stderr
    first = r.stdout.split("\n\n# record:")[0]
    assert block.splitlines() == first.splitlines()[:len(block.splitlines())] and "Conf: " in block


def test_bundled_multitask_model_writes_netsurfp_for_the_readme_example(tmp_path):
    """The README's quick start: `ss-predict examples/example.fasta -m multitask -f netsurfp -o example.csv`."""
    example = Path(__file__).resolve().parents[1] / "examples" / "example.fasta"
    out = tmp_path / "example.csv"
    r = run(str(example), "-m", "multitask", "-f", "netsurfp", "-o", str(out))
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    seqs = [ln.strip() for ln in example.read_text().split(">")[1:]]
    lengths = [len("".join(rec.splitlines()[1:])) for rec in seqs]
    assert lines[0] == NETSURFP3_HEADER and len(lines) == 1 + sum(lengths)
    rows = [ln.split(",") for ln in lines[1:]]
    assert rows[0][:3] == [">ubiquitin_human", "M", "1"]
    rsa, dis = np.array([float(r[3]) for r in rows]), np.array([float(r[20]) for r in rows])
    assert 0 <= rsa.min() and rsa.max() <= 1 and 0 <= dis.min() and dis.max() <= 1
    assert rsa.std() > 0.05  # a trained accessibility head: buried and exposed residues differ


def test_netsurfp_format_of_an_ss_only_model_is_one_line_and_writes_nothing(fasta, tiny_ckpt, tmp_path):
    out = tmp_path / "o.csv"
    r = run(str(fasta), "-m", str(tiny_ckpt), "-f", "netsurfp", "-o", str(out))
    refused(r, "netsurfp", "rsa")
    assert r.stdout == "" and not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.fasta", "runA"]
    r = run(str(fasta), "-f", "netsurfp")  # the bundled SS-only default
    refused(r, "netsurfp")
    assert r.stdout == ""
