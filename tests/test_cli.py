"""cli/: what every command shares: unreadable folders, empty paths, thread counts torch would crash on, a missing
data set or data root, SIGTERM's clean-up: one line `error: ...`, exit status 2 (143 for SIGTERM)."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import FIX, TINY, error_of, one_line_error, run_cli, tiny_checkpoint
from ss_predict.cli import data_main, eval_main, predict_main, train_main
from ss_predict.config.compose import load_config


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


def test_empty_paths_and_a_file_path_ending_in_slash(cwd, capsys):
    assert "path is empty" in error_of(data_main, capsys, "stats", "")
    assert "path is empty" in error_of(data_main, capsys, "convert", str(FIX / "3VOP_A.fasta"), "", "--to", "fasta3")
    assert "path is empty" in error_of(predict_main, capsys, "")
    assert "path is empty" in error_of(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "--profiles", "")
    # `x/` names a folder: it was written as a file `x`
    assert "ends in /" in error_of(data_main, capsys, "convert", str(FIX / "3VOP_A.fasta"), "out/", "--to", "fasta3")
    assert not (cwd / "out").exists()


@pytest.mark.parametrize("entry, args, words", [
    ("predict_main", [str(FIX / "3VOP_A.fasta"), "--threads", "100000"], "argument --threads: must be at least 1 and at most 1024"),
    ("train_main", [*TINY, "trainer.threads=100000"], "trainer.threads=100000 must be at least 1 and at most 1024"),
])
def test_thread_counts_that_crash_torch_are_refused(cwd, out_dir, entry, args, words):
    """torch.set_num_threads(100000) is a segmentation fault: run in a child, so that a regression fails here."""
    r = subprocess.run([sys.executable, "-c", f"import sys; from ss_predict.cli import {entry}; {entry}(sys.argv[1:])",
                        *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and words in one_line_error(r.stderr), (r.returncode, r.stderr[-500:])
    assert not out_dir.exists()


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
