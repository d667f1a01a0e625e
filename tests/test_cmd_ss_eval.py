"""ss-eval: several sets, excluded chains, result names that never replace each other, every careless option or
output one line with exit status 2 before any scoring."""
import json
import os

import pytest

from conftest import FIX, error_of, one_line_error, run_cli, writes_fail_past
from ss_predict.cli import eval_main, predict_main
from ss_predict.evaluation.evaluate import default_output


@pytest.mark.data("cb513", "casp12", "casp10")
def test_ss_eval_several_sets(tiny_ckpt, capsys, tmp_path, out_dir):
    report = tmp_path / "eval.json"
    code, out, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=[cb513,casp12,casp10]",
                             f"output={report}", "device=cpu")
    assert code == 0, err
    assert "cb513" in out and "casp10" in out
    rep = json.loads(report.read_text())["results"]
    assert rep["cb513"]["residues_scored"] == 83427 and rep["cb513"]["proteins"] == 509
    assert rep["casp12"]["residues_scored"] == 12442 and rep["casp10"]["residues_scored"] == 22041
    for res in rep.values():
        assert 0 <= res["q3"] <= 100 and 0 <= res["q8"] <= 100 and len(res["confusion8"]) == 8
        assert sum(map(sum, res["confusion3"])) == res["residues_scored"]


@pytest.mark.data("casp12")
def test_ss_eval_excludes_audited_chains(tiny_ckpt, capsys, tmp_path, out_dir, data_root):
    """exclude= takes an ss-data audit report (benchmark_id column) or a plain id list and drops those chains."""
    from ss_predict.data.formats import read_any
    casp12 = read_any(data_root / "lift_ss_testsets/CASP12.txt")
    drop = [casp12[0], casp12[5]]
    report = tmp_path / "pairs.tsv"
    report.write_text("benchmark\ttrain_id\tbenchmark_id\tidentity\taligned\tevalue\tdirection\n" + "".join(
        f"x\tt{i}\t{p.id}\t0.3\t40\t1e-5\ta->b\n" for i, p in enumerate(drop)))
    plain = tmp_path / "ids.txt"
    plain.write_text("".join(f"{p.id}\n" for p in drop))
    for i, excl in enumerate((report, plain)):
        res = tmp_path / f"e{i}.json"
        code, out, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12", f"output={res}",
                                 f"exclude={excl}", "device=cpu")
        assert code == 0, err
        rep = json.loads(res.read_text())
        assert rep["results"]["casp12"]["proteins"] == len(casp12) - 2
        assert rep["results"]["casp12"]["residues_scored"] == 12442 - sum(p.n_scored for p in drop)
        assert rep["excluded"]["chains"] == {"casp12": 2}


@pytest.mark.data("cb513")  # the data paths are checked before the checkpoint
def test_ss_eval_errors(tmp_path, capsys):
    code, out, err = run_cli(eval_main, capsys, "data=cb513")
    assert code == 2 and "checkpoint=PATH" in err
    code, out, err = run_cli(eval_main, capsys, f"checkpoint={tmp_path}/none.pt")
    assert code == 2 and "not found" in err and "Traceback" not in err


@pytest.mark.data("casp12", "casp10")
def test_eval_names_results_by_checkpoint_and_sets_and_never_replaces(tiny_ckpt, out_dir, cwd, capsys):
    args = [f"checkpoint={tiny_ckpt}", "data=casp12", "device=cpu"]
    assert run_cli(eval_main, capsys, *args)[0] == 0
    assert run_cli(eval_main, capsys, *args)[0] == 0
    files = sorted(p.name for p in (out_dir / "eval").iterdir())
    assert [n for n in files if n.endswith(".json")] == ["runA_best.casp12-2.json", "runA_best.casp12.json"]
    for stem in ("runA_best.casp12.", "runA_best.casp12-2."):  # each report has its own plots, the set named once
        assert f"{stem}confusion.png" in files
    assert not [n for n in files if "casp12.casp12" in n]
    other = tiny_ckpt.parent.parent / "runB" / "best.pt"
    other.parent.mkdir()
    other.write_bytes(tiny_ckpt.read_bytes())
    assert run_cli(eval_main, capsys, f"checkpoint=[{tiny_ckpt},{other}]", "data=[casp12,casp10]", "device=cpu")[0] == 0
    rep = json.loads((out_dir / "eval" / "runA_best+runB_best.casp12+casp10.json").read_text())
    assert rep["results"]["casp12"]["residues_scored"] == 12442 and len(rep["checkpoints"]) == 2
    assert list(cwd.iterdir()) == []  # no ./cli.log (Hydra's job log is off)


def test_eval_many_members_get_a_short_hashed_name(tmp_path):
    paths = [tmp_path / f"a_long_run_name_{i}" / "best.pt" for i in range(8)]
    out = default_output(tmp_path / "eval", paths, ["cb513", "ts115"])
    assert out.name.startswith("ensemble8-") and out.name.endswith(".cb513+ts115.json")
    assert out != default_output(tmp_path / "eval", paths[:7], ["cb513", "ts115"])


@pytest.mark.data("casp12")
def test_eval_explicit_output_is_not_replaced_without_overwrite(tiny_ckpt, out_dir, cwd, tmp_path, capsys):
    target = tmp_path / "mine.json"
    target.write_text("keep me\n")
    code, out, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12", f"output={target}")
    assert code == 2 and "overwrite=true" in one_line_error(err) and target.read_text() == "keep me\n"
    code, out, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12", f"output={target}",
                             "overwrite=true", "device=cpu")
    assert code == 0 and json.loads(target.read_text())["results"]["casp12"]["proteins"] == 47


@pytest.mark.data("casp12")
def test_eval_on_a_full_disk_is_one_line_and_keeps_the_old_report(tiny_ckpt, out_dir, cwd, tmp_path, capsys):
    """The report, then a plot, that cannot be written whole (each file stops at a limit, as on a full disk): one
    line naming the file, exit 2, the report there before intact, nothing half-written."""
    target = tmp_path / "mine.json"
    target.write_text("keep me\n")
    args = (f"checkpoint={tiny_ckpt}", "data=casp12", f"output={target}", "overwrite=true", "device=cpu")
    with writes_fail_past(100):
        err = error_of(eval_main, capsys, *args)
    assert f"cannot write {target}: File too large; the table above is not saved" in err
    assert target.read_text() == "keep me\n" and sorted(os.listdir(tmp_path)) == ["cwd", "mine.json", "runA"]
    with writes_fail_past(20_000):  # the report fits, a PNG plot does not
        err = error_of(eval_main, capsys, *args)
    assert f"cannot write {tmp_path}/mine.casp12." in err and ".png: File too large" in err
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".png") or n.endswith(".tmp")]


@pytest.mark.data("casp12")
def test_eval_unwritable_output_prints_the_table_then_one_line(tiny_ckpt, cwd, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, out, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12", "device=cpu",
                             f"paths.output_dir={blocker}/out")
    assert code == 2 and "table above is not saved" in one_line_error(err) and str(blocker) in err
    row = [line for line in out.splitlines() if line.startswith("casp12")]
    assert row and row[0].split()[1:3] == ["47", "12442"]


@pytest.mark.data("casp12", "casp10")
def test_eval_progress_bar_option(tiny_ckpt, out_dir, cwd, capsys):
    code, _, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=[casp12,casp10]", "progress=true")
    assert code == 0 and "casp12" in err and "casp10" in err and "res" in err
    code, _, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12")  # auto: not a terminal
    assert code == 0 and err == ""
    code, _, err = run_cli(eval_main, capsys, f"checkpoint={tiny_ckpt}", "data=casp12", "progress=maybe")
    assert code == 2 and "auto, true or false" in one_line_error(err)


def test_eval_wrong_type(capsys, cwd):
    code, _, err = run_cli(eval_main, capsys, "checkpoint=default", "max_tokens=lots")
    assert code == 2 and "max_tokens" in one_line_error(err)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_eval_writes_through_devices(cwd, out_dir, capsys):
    code, out, err = run_cli(eval_main, capsys, "checkpoint=default", "data=casp12", "output=/dev/null")
    assert code == 0 and "wrote /dev/null" in out, err
    code, _, err = run_cli(eval_main, capsys, "checkpoint=default", "data=casp12", "output=/dev/full")
    assert code == 2 and "cannot write /dev/full: No space left on device" in one_line_error(err)
    code, _, err = run_cli(predict_main, capsys, str(FIX / "3VOP_A.fasta"), "-o", "/dev/full")
    assert code == 2 and "cannot write /dev/full: No space left on device" in one_line_error(err)


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


def test_eval_empty_data_group_is_one_line(cwd, out_dir, capsys):
    assert "data is empty" in error_of(eval_main, capsys, "checkpoint=default", "data=[]")


def test_eval_output_that_cannot_be_written_is_refused_before_scoring(tmp_path, cwd, capsys):
    from ss_predict.cli import eval_main
    (tmp_path / "dir").mkdir()
    for output, words in ((f"{tmp_path}/dir/", "not a folder"), (f"{tmp_path}/dir", "it is a folder"),
                          (f"{tmp_path}/afile/x.json", "is a file, not a folder")):
        (tmp_path / "afile").write_text("")
        code, _, err = run_cli(eval_main, capsys, "checkpoint=default", "data=casp12", f"output={output}")
        assert code == 2 and words in one_line_error(err) and "Q3" not in err
