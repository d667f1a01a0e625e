import json
import subprocess
import sys

import pytest
import torch

from ss_predict.checkpoint.format import save_checkpoint
from ss_predict.data.features import spec_dict
from ss_predict.models import create_model


def cli(entry, *args):
    return subprocess.run([sys.executable, "-c", f"from ss_predict.cli import {entry}; {entry}()", *args],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    out = {}
    for spec in ("onehot", "onehot+profile"):
        torch.manual_seed(0)
        kwargs = {"channels": 8, "dilations": [1, 2], "repeats": 1}
        m = create_model("dilated_cnn", spec_dict(spec)["n_features"], **kwargs)
        out[spec] = d / f"{spec.replace('+', '_')}.pt"
        save_checkpoint(out[spec], model=m, model_cfg={"name": "dilated_cnn", "kwargs": kwargs},
                        features=spec_dict(spec), config={})
    return out


@pytest.mark.data("cb513", "casp12", "casp10")
def test_ss_eval_several_sets(ckpts, tmp_path, out_dir):
    out = tmp_path / "eval.json"
    r = cli("eval_main", f"checkpoint={ckpts['onehot']}", "data=[cb513,casp12,casp10]", f"output={out}",
            "device=cpu")
    assert r.returncode == 0, r.stderr
    assert "cb513" in r.stdout and "casp10" in r.stdout
    rep = json.loads(out.read_text())["results"]
    assert rep["cb513"]["residues_scored"] == 83427 and rep["cb513"]["proteins"] == 509
    assert rep["casp12"]["residues_scored"] == 12442 and rep["casp10"]["residues_scored"] == 22041
    for res in rep.values():
        assert 0 <= res["q3"] <= 100 and 0 <= res["q8"] <= 100 and len(res["confusion8"]) == 8
        assert sum(map(sum, res["confusion3"])) == res["residues_scored"]


@pytest.mark.data("casp12")
def test_ss_eval_excludes_audited_chains(ckpts, tmp_path, out_dir, data_root):
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
        out = tmp_path / f"e{i}.json"
        r = cli("eval_main", f"checkpoint={ckpts['onehot']}", "data=casp12", f"output={out}", f"exclude={excl}",
                "device=cpu")
        assert r.returncode == 0, r.stderr
        rep = json.loads(out.read_text())
        assert rep["results"]["casp12"]["proteins"] == len(casp12) - 2
        assert rep["results"]["casp12"]["residues_scored"] == 12442 - sum(p.n_scored for p in drop)
        assert rep["excluded"]["chains"] == {"casp12": 2}


@pytest.mark.data("cb513")  # the data paths are checked before the checkpoint
def test_ss_eval_errors(ckpts, tmp_path):
    r = cli("eval_main", "data=cb513")
    assert r.returncode == 2 and "checkpoint=PATH" in r.stderr
    r = cli("eval_main", f"checkpoint={tmp_path}/none.pt")
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr


def test_profile_model_needs_profiles(ckpts, tmp_path):
    fa = tmp_path / "x.fasta"
    fa.write_text(">3VOP_A\nSTKAAKKPEAKREAIVKADEDDNEETLKQRLTNLEKKITNVTTKFEQIEKAAKRNDEVLFRLEN\n")
    r = cli("predict_main", str(fa), "--model", str(ckpts["onehot+profile"]), "-o", str(tmp_path / "o.ss2"))
    assert r.returncode == 2 and "needs profiles" in r.stderr and not (tmp_path / "o.ss2").exists()
    from pathlib import Path
    fixtures = Path(__file__).parent / "fixtures"
    r = cli("predict_main", str(fa), "--model", str(ckpts["onehot+profile"]), "--profiles", str(fixtures),
            "-f", "fasta")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == ">3VOP_A"


@pytest.mark.data("cb513", "casp12")
def test_ss_data_stats_and_convert(data_root, tmp_path):
    r = cli("data_main", "stats", str(data_root / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv"))
    assert r.returncode == 0 and "scored residues:  83427" in r.stdout
    out = tmp_path / "casp12.npy.gz"
    r = cli("data_main", "convert", str(data_root / "lift_ss_testsets/CASP12.txt"), str(out), "--to", "zhou")
    assert r.returncode == 0, r.stderr
    r = cli("data_main", "stats", str(out))
    assert "proteins:         47" in r.stdout and "scored residues:  12442" in r.stdout
    r = cli("data_main", "convert", str(out), str(tmp_path / "back.txt"), "--to", "fasta3")
    assert r.returncode == 0
    assert (tmp_path / "back.txt").read_text().split("\n")[1] == \
        (data_root / "lift_ss_testsets/CASP12.txt").read_text().split("\n")[1]
    r = cli("data_main", "stats", str(tmp_path / "missing.csv"))
    assert r.returncode == 2 and "file not found" in r.stderr
