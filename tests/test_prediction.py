"""prediction/: proteome-scale runs: windows keep input order and bound memory, a killed run resumes byte-identically,
shards concatenate to the whole run, a bad record late in a file stops the run before any output, a damaged
resume journal is one line."""
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import ss_predict
from conftest import error_of, predict_child, run_cli
from ss_predict.cli import predict_main
from ss_predict.prediction.predictor import Predictor
from ss_predict.data.formats import read_any
from ss_predict.prediction.plan import plan_windows, scan_fasta


@pytest.fixture(scope="module")
def casp12(data_root, tmp_path_factory):
    """The 47 real CASP12 chains as FASTA (lengths 45 to 1,000+)."""
    recs = read_any(data_root / "lift_ss_testsets/CASP12.txt")
    fa = tmp_path_factory.mktemp("in") / "casp12.fasta"
    fa.write_text("".join(f">{p.id} CASP12 target\n{textwrap.fill(p.sequence, 60)}\n" for p in recs))
    return fa


@pytest.mark.data("casp12")
def test_windows_keep_input_order_and_bound_memory(casp12, monkeypatch):
    whole = ss_predict.Predictor()
    ref = whole.predict(casp12)
    small = ss_predict.Predictor(window_records=5, window_residues=2000)
    seen = []
    real = small.predict_proteins
    monkeypatch.setattr(small, "predict_proteins", lambda ps, **kw: (seen.append(ps), real(ps, **kw))[1])
    got = list(small.predict_iter(casp12))
    assert [p.id for p in got] == [p.id for p in ref]
    assert max(len(w) for w in seen) <= 5 and len(seen) >= 10  # never more than a window held
    assert all(sum(len(p.sequence) for p in w) <= 2000 or len(w) == 1 for w in seen)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a.p8, b.p8, atol=1e-5)


def test_plan_windows_cut():
    assert list(plan_windows([3, 3, 3, 10, 1], 2, 8)) == [(2, 6), (1, 3), (1, 10), (1, 1)]
    assert list(plan_windows([], 2, 8)) == []


@pytest.mark.data("casp12")
def test_every_format_streams_the_same_text_as_one_render(casp12, tmp_path):
    preds = list(ss_predict.Predictor(window_records=4).predict_iter(casp12))  # the same batches as the CLI's
    for fmt in ("ss2", "horiz", "fasta", "json", "jsonl", "csv"):
        r = predict_child(str(casp12), "-f", fmt, "--window", "4", "--threads", "1", "-o", str(tmp_path / f"w.{fmt}"))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / f"w.{fmt}").read_text() == ss_predict.prediction.renderers.render(preds, fmt), fmt
    recs = json.loads((tmp_path / "w.json").read_text())
    assert [r["id"] for r in recs] == [p.id for p in preds]
    lines = (tmp_path / "w.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == [p.id for p in preds]


@pytest.mark.data("casp12")
def test_parquet_schema_read_by_pandas(casp12, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = tmp_path / "c.parquet"
    r = predict_child(str(casp12), "-f", "parquet", "--window", "10", "-o", str(out))
    assert r.returncode == 0, r.stderr
    df = pd.read_parquet(out)
    preds = list(ss_predict.Predictor(window_records=10).predict_iter(casp12))
    assert len(df) == sum(len(p.sequence) for p in preds)
    assert list(df.columns[:5]) == ["id", "position", "residue", "ss8", "ss3"]
    assert df["p8_H"].dtype == np.float32 and df["position"].dtype == np.int32
    first = df[df["id"] == preds[0].id]
    assert "".join(first["ss8"]) == preds[0].ss8 and list(first["position"]) == list(range(1, len(first) + 1))
    np.testing.assert_allclose(first[[f"p8_{s}" for s in ss_predict.STATES8]].to_numpy(), preds[0].p8, atol=1e-5)
    import pyarrow.parquet as pq
    assert pq.ParquetFile(out).num_row_groups == len(scan_fasta(casp12, max_records=10).windows)
    one = predict_child(str(casp12), "-f", "parquet")
    assert one.returncode == 2 and "binary format" in one.stderr


# os._exit at an exact point, as SIGKILL or a power cut would stop the run: `after` windows complete,
# then `half` of the next window's bytes written (no clean-up runs).
KILL = """
import os, ss_predict.prediction.writers as w
AFTER, HALF = {after}, {half}
orig = w.FileSink.write
def write(self, index, preds, first, several, last):
    if index == AFTER:
        data = self._bytes(preds, first, several, last)
        self.fh.write(data[: int(len(data) * HALF)]); self.fh.flush()
        os._exit(137)
    orig(self, index, preds, first, several, last)
w.FileSink.write = write
"""


@pytest.mark.data("casp12")
@pytest.mark.parametrize("fmt", ["ss2", "json", "parquet"])
def test_resume_after_a_kill_is_byte_identical(casp12, tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    args = [str(casp12), "-f", fmt, "--window", "6", "--threads", "1"]
    ref = tmp_path / f"ref.{fmt}"
    assert predict_child(*args, "-o", str(ref)).returncode == 0
    for after, half in ((0, 0.5), (3, 0.0), (5, 0.9)):
        out = tmp_path / f"k{after}.{fmt}"
        killed = predict_child(*args, "-o", str(out), code=KILL.format(after=after, half=half))
        assert killed.returncode == 137
        assert not out.exists()  # never a partial output under the final name
        again = predict_child(*args, "-o", str(out))
        if after == 0:  # killed before any window was complete: nothing to resume, a plain re-run starts over
            assert again.returncode == 0 and out.read_bytes() == ref.read_bytes()
            continue
        assert again.returncode == 2 and "--resume" in again.stderr and again.stderr.count("\n") == 1  # told how
        resumed = predict_child(*args, "-o", str(out), "--resume")
        assert resumed.returncode == 0, resumed.stderr
        assert out.read_bytes() == ref.read_bytes(), (after, half)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f"k{after}") or
                      f"k{after}" in p.name) == [out.name]  # partial file and journal gone


@pytest.mark.data("casp12", "tiny")
def test_resume_into_a_folder_and_refusals(casp12, tmp_path, tiny_run):
    args = [str(casp12), "-f", "ss2", "--window", "6"]
    assert predict_child(*args, "-o", str(tmp_path / "ref") + "/").returncode == 0
    kill = KILL.replace("w.FileSink", "w.FolderSink").replace(
        "data = self._bytes(preds, first, several, last)\n        self.fh.write(data[: int(len(data) * HALF)]); self.fh.flush()\n", "")
    out = str(tmp_path / "out") + "/"
    assert predict_child(*args, "-o", out, code=kill.format(after=4, half=0)).returncode == 137
    assert len(list(Path(out).glob("*.ss2"))) == 24
    other = predict_child(*args, "-o", out, "--resume", "-m", str(tiny_run / 'best.pt'))
    assert other.returncode == 2 and "another the model" not in other.stderr and "model" in other.stderr
    gone = sorted(Path(out).glob("*.ss2"))[3]
    gone.unlink()  # a file of a record the journal counts as done: --resume writes it again
    assert predict_child(*args, "-o", out, "--resume").returncode == 0
    assert gone.is_file()
    ref = {p.name: p.read_bytes() for p in (tmp_path / "ref").iterdir()}
    assert {p.name: p.read_bytes() for p in Path(out).iterdir()} == ref  # journal gone too
    stdin = subprocess.run([sys.executable, "-m", "ss_predict", "-", "--resume", "-o", str(tmp_path / "x.ss2")],
                           input=casp12.read_text(), capture_output=True, text=True)
    assert stdin.returncode == 2 and "standard input" in stdin.stderr


@pytest.mark.data("casp12")
def test_resume_refuses_another_input(casp12, tmp_path):
    out = tmp_path / "o.ss2"
    assert predict_child(str(casp12), "--window", "6", "-o", str(out),
                          code=KILL.format(after=2, half=0.3)).returncode == 137
    other = tmp_path / "other.fasta"
    other.write_text(casp12.read_text() + ">extra\nMKVLAAGIV\n")
    r = predict_child(str(other), "--window", "6", "-o", str(out), "--resume")
    assert r.returncode == 2 and "another the input" not in r.stderr and "input" in r.stderr
    assert r.stderr.count("\n") == 1


@pytest.mark.data("casp12")
@pytest.mark.parametrize("fmt", ["ss2", "json", "csv", "jsonl"])
def test_shards_concatenate_to_the_single_run(casp12, tmp_path, fmt):
    args = [str(casp12), "-f", fmt, "--window", "5", "--threads", "1"]
    one = predict_child(*args)
    assert one.returncode == 0
    parts = []
    for i in range(1, 5):
        r = predict_child(*args, "--shard", f"{i}/4", "-o", str(tmp_path / f"part{i}.{fmt}"))
        assert r.returncode == 0, r.stderr
        parts.append((tmp_path / f"part{i}.{fmt}").read_text())
    assert "".join(parts) == one.stdout
    assert all(parts)  # 47 chains in 10 windows: every part has some
    sizes = [len(p) for p in parts]
    assert max(sizes) < 2.5 * min(sizes)  # residue-balanced, not record-balanced


@pytest.mark.data("casp12")
def test_bad_record_late_in_a_file_stops_before_any_output(casp12, tmp_path):
    bad = tmp_path / "late.fasta"
    bad.write_text(casp12.read_text() * 1 + ">late_bad\nMKV1LL\n")
    out = tmp_path / "o.ss2"
    r = predict_child(str(bad), "--window", "3", "-o", str(out))
    assert r.returncode == 2 and "late_bad" in r.stderr and "position 4" in r.stderr
    assert r.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == [bad]  # nothing written, not even a partial file
    r = predict_child(str(bad), "--window", "3")
    assert r.returncode == 2 and r.stdout == ""
    r = predict_child(str(bad), "--window", "3", "--skip-invalid", "-f", "fasta")
    assert r.returncode == 0 and "skipped:" in r.stderr and "late_bad" in r.stderr
    assert r.stdout.count(">") == 47


def test_duplicate_and_clashing_names_are_found_before_writing(tmp_path):
    fa = tmp_path / "d.fasta"
    fa.write_text(">a/b\nMKVLAAGIV\n>c\nMKVL\n>a_b\nMKVLAA\n")
    r = predict_child(str(fa), "-o", str(tmp_path / "out") + "/")
    assert r.returncode == 2 and "'a/b' and 'a_b'" in r.stderr and not (tmp_path / "out").exists()
    fa.write_text(">" + "x" * 300 + "\nMKVL\n>b\nMKV\n")
    r = predict_child(str(fa), "-o", str(tmp_path / "out") + "/")
    assert r.returncode == 2 and "255 bytes" in r.stderr and not (tmp_path / "out").exists()


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
    (lambda d: d.update(sha256="not a digest"), "not a readable ss-predict resume journal"),
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


@pytest.mark.parametrize("change", ["one byte", "same size", "longer"])
def test_resume_refuses_a_partial_file_changed_since(cwd, capsys, monkeypatch, change):
    """The journal keeps the SHA-256 of the complete bytes: a partial file edited, copied over or damaged since
    (its size alone still fits) is refused in one line, and left as it is; it was: the changed bytes in the output."""
    journal = _interrupted_run(cwd, capsys, monkeypatch)
    part = cwd / ".out.ss2.ss-predict-part"
    data = part.read_bytes()
    i = data.index(b" C ")  # a residue's 3-state letter, inside the first record
    part.write_bytes({"one byte": data[:i] + b" H " + data[i + 3:], "same size": data[::-1],
                      "longer": data[:i] + b" H " + data[i + 3:] + b"more\n"}[change])
    changed = part.read_bytes()
    err = error_of(predict_main, capsys, "in.fasta", "-o", "out.ss2", "--window", "1", "--resume")
    assert f"{part} no longer holds what its journal" in err and "delete both to start over" in err
    assert not (cwd / "out.ss2").exists() and part.read_bytes() == changed and journal.exists()


HOLD = """
import os, time, ss_predict.prediction.writers as w
orig = w.FileSink.write
def write(self, index, preds, first, several, last):
    orig(self, index, preds, first, several, last)
    if index == 1:  # two windows complete: say so, then wait (bounded) to be let go
        open("ready", "w").close()
        for _ in range(1200):
            if os.path.exists("go"):
                break
            time.sleep(0.1)
w.FileSink.write = write
from ss_predict.cli import predict_main
predict_main()
"""


def test_a_second_run_to_the_same_file_is_refused_while_one_is_in_progress(cwd):
    """Two real processes: while one writes out.ss2 (its partial file locked), a second run to out.ss2, and
    --resume, are refused in one line that says a run is in progress (they said: an interrupted run, or took the
    partial file from under it); the first then finishes with the whole output."""
    (cwd / "in.fasta").write_text(MANY)
    args = ["in.fasta", "-o", "out.ss2", "--window", "1"]
    first = subprocess.Popen([sys.executable, "-c", HOLD, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):
            if (cwd / "ready").exists() or first.poll() is not None:
                break
            time.sleep(0.1)
        assert (cwd / "ready").exists(), first.communicate()
        part = cwd / ".out.ss2.ss-predict-part"
        held = part.read_bytes()
        for extra in ([], ["--resume"]):
            r = predict_child(*args, *extra, cwd=cwd)
            assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
            assert "out.ss2: a run is in progress" in r.stderr and "interrupted" not in r.stderr, r.stderr
        assert part.read_bytes() == held and not (cwd / "out.ss2").exists()
    finally:
        (cwd / "go").touch()
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    alone = predict_child("in.fasta", "--window", "1", cwd=cwd)  # an uninterrupted run, on standard output
    assert alone.returncode == 0 and (cwd / "out.ss2").read_text() == alone.stdout
    assert sorted(p.name for p in cwd.iterdir()) == ["go", "in.fasta", "out.ss2", "ready"]


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


def test_sigterm_acts_between_the_segments_of_a_long_chain(cwd, tiny_ckpt):
    """A chain longer than a segment runs as several forward passes: SIGTERM during the second stops the run
    there (the third never starts), as between windows (was: one pass over the whole chain, deaf until it ended)."""
    rng = np.random.default_rng(0)
    (cwd / "in.fasta").write_text(">long\n" + "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 3000)) + "\n")
    script = textwrap.dedent("""
        import atexit, os, signal, sys
        from ss_predict.cli import predict_main
        from ss_predict.inference import engine
        from ss_predict.models.dilated_cnn import DilatedCNN
        engine.SEGMENT, engine.OVERLAP = 256, 16
        original, calls = DilatedCNN.forward, [0]
        def forward(self, x, mask):
            calls[0] += 1
            if calls[0] == 2:
                os.kill(os.getpid(), signal.SIGTERM)
            return original(self, x, mask)
        DilatedCNN.forward = forward
        atexit.register(lambda: print(f"forward passes: {calls[0]}", file=sys.stderr))
        predict_main(sys.argv[1:])
    """)
    r = subprocess.run([sys.executable, "-c", script, "in.fasta", "-m", str(tiny_ckpt), "-o", "out.ss2",
                        "--max-tokens", "256"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 143 and "terminated\n" in r.stderr, r.stderr
    assert r.stderr.endswith("forward passes: 2\n") and sorted(p.name for p in cwd.iterdir()) == ["in.fasta"]
