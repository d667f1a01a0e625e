"""ss-predict on careless inputs and outputs: each case is one line on stderr, exit status 2, nothing
half-written; devices, FIFOs and symbolic links are written through, never replaced."""
import contextlib
import gzip
import io
import json
import os
import stat
import subprocess
import sys
import threading

import pytest
import torch

from ss_predict.cli import predict_main
from ss_predict.data.formats.fasta import parse_records

FASTA = ">p1 first\nMKVLAAGIVGLLLAAHSEEVKKLLEEAGIDTSK\n>p2\nGSHMSEQLTEEQIAEFKEAFSLFDKDGDGTITTKELGTVMRSL\n"
DNA = ">gene1 a coding sequence\nATGGCTAGCAAAGGAGAAGAACTTTTCACTGGAGTTGTCCCAATTCTTGTTGAATTAGATGGTGATGTTAAT\n"


class Tty(io.StringIO):
    def isatty(self):
        return True


def run(*args, stdin: bytes | None = None, stderr=None):
    """ss-predict in this process: (exit status, stdout, stderr)."""
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
    return code, out.getvalue(), err.getvalue()


def one_line_error(code, err, *words):
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for w in words:
        assert w in err, err


@pytest.fixture
def fasta(tmp_path):
    p = tmp_path / "in.fasta"
    p.write_text(FASTA)
    return p


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The ss2 text of FASTA written to standard output (what every other route must reproduce)."""
    p = tmp_path_factory.mktemp("ref") / "in.fasta"
    p.write_text(FASTA)
    code, out, err = run(str(p))
    assert code == 0, err
    return out


def test_missing_input_and_folder_input(tmp_path):
    one_line_error(*run(str(tmp_path / "none.fasta"))[::2], "none.fasta", "file not found")
    one_line_error(*run(str(tmp_path))[::2], "is a folder")


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
    one_line_error(*run(str(bad))[::2], "cut.fa.gz", "gzip")


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
            one_line_error(*run(str(fasta), "-o", str(ro / "out.ss2"))[::2], "read-only or not writable")
            assert list(ro.iterdir()) == []
        finally:
            ro.chmod(0o700)
    else:  # root writes into a chmod'ed folder anyway: a parent that is a file fails for everyone
        one_line_error(*run(str(fasta), "-o", str(fasta / "sub" / "out.ss2"))[::2], "is a file, not a folder")


def test_parent_of_output_is_a_file(fasta, tmp_path):
    one_line_error(*run(str(fasta), "-o", str(fasta / "out.ss2"))[::2], "in.fasta", "not a folder")
    one_line_error(*run(str(fasta), "-o", str(fasta) + "/")[::2], "not a folder")  # one file per record
    assert fasta.read_text() == FASTA


def test_full_stdout_is_one_line(fasta):
    with open("/dev/full", "w") as full:  # only opened for writing (a subprocess stdout), never replaced
        r = subprocess.run([sys.executable, "-m", "ss_predict", str(fasta)], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    one_line_error(r.returncode, r.stderr, "standard output", "No space left")


@pytest.mark.parametrize("args,words", [
    (["--device", "gpu"], ["unknown device 'gpu'", "auto, cpu, cuda"]),
    (["--threads", "0"], ["--threads", "at least 1"]),
    (["--max-tokens", "0"], ["--max-tokens", "at least 1"]),
    (["--threads", "two"], ["--threads", "not a whole number"]),
    (["-f", "pdb"], ["invalid choice"]),
])
def test_bad_options_one_line(fasta, tmp_path, args, words):
    out = tmp_path / "o.ss2"
    one_line_error(*run(str(fasta), "-o", str(out), *args)[::2], *words)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_one_line(fasta):
    for dev in ("cuda", "cuda:1"):
        one_line_error(*run(str(fasta), "--device", dev)[::2], f"device '{dev}'", "no CUDA device")


def test_nucleotide_input_refused_unless_allowed(tmp_path):
    f = tmp_path / "mixed.fasta"
    f.write_text(FASTA + DNA)
    one_line_error(*run(str(f), "-o", str(tmp_path / "o.ss2"))[::2], "'gene1'", "nucleotide", "--allow-nucleotide")
    assert not (tmp_path / "o.ss2").exists()
    code, out, err = run(str(f), "--allow-nucleotide", "-f", "fasta")
    assert code == 0 and [ln for ln in out.splitlines() if ln.startswith(">")] == [">p1", ">p2", ">gene1"], err
    code, out, err = run(str(f), "--skip-invalid", "-f", "fasta")  # with --skip-invalid it is listed, not predicted
    assert code == 0 and ">gene1" not in out and "skipped" in err and "'gene1'" in err


def test_nucleotide_threshold():
    def refused(seq):
        try:
            parse_records([("r", seq)], "t")
        except Exception as e:  # noqa: BLE001 - the message decides
            return "nucleotide" in str(e)
        return False
    assert refused("ACGU" * 5) and refused("acgtn" * 4)  # 20 letters, RNA and lower case too
    assert not refused("ACGT" * 4 + "ACG")  # 19 letters: too short to tell
    assert refused("ACGT" * 9 + "KL" * 2) and not refused("ACGT" * 8 + "KLMP")  # 90% vs 88.9%
    assert not refused("MKVLAAGIVGLLLAAHSEEVKKLLEEAGIDTSK")


def test_progress_bar_by_residues_only_on_a_terminal(fasta):
    total = sum(len(s) for s in ("MKVLAAGIVGLLLAAHSEEVKKLLEEAGIDTSK", "GSHMSEQLTEEQIAEFKEAFSLFDKDGDGTITTKELGTVMRSL"))
    code, _, err = run(str(fasta), stderr=Tty())
    assert code == 0 and f"{total}/{total}" in err and "res" in err  # two records: still a bar
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
