"""scripts/bench_peers.py: REPROF's output read right (a real output of Debian's reprof 1.0.1 on 1A1I_A, in
tests/fixtures/reprof), its accessibility put on the labels' RSA scale, and the table of both tools (REPROF itself is
stood in for by a stub that writes that output, so these tests need no reprof installed)."""
import importlib.util
import json
import stat
import sys

import numpy as np
import pytest

from conftest import DATA, FIX, error_of, run_cli, tiny_checkpoint
from ss_predict.core.alphabet import SS3, parse_ss3
from ss_predict.errors import UserError

spec = importlib.util.spec_from_file_location("bench_peers", FIX.parent.parent / "scripts" / "bench_peers.py")
bench_peers = importlib.util.module_from_spec(spec)
sys.modules["bench_peers"] = bench_peers  # (its dataclass looks itself up there)
spec.loader.exec_module(bench_peers)

OUTPUT = FIX / "reprof" / "1A1I_A.reprof"
SEQUENCE = (FIX / "reprof" / "1A1I_A.fasta").read_text().split("\n")[1]
DSSP = "cmbi_dssp_chains/dssp_sample/1A1I.dssp"
# PHEL of the fixture, read by eye from its third column
PHEL = "LLLLLLLLLLLLLLLLLLLLLLEEEEELLLLLLEEEEEEELLLLLLLLLEEEEELLLLLLLEELLLLLEELLLLLLLLLEEEEEL"


def test_parse_reprof_reads_the_real_output_of_1A1I_A():
    p = bench_peers.parse_reprof(OUTPUT.read_text())
    assert p.sequence == SEQUENCE and len(p.sequence) == 85
    assert "".join(SS3[i] for i in p.ss3) == PHEL.replace("L", "C")
    # row 1: R L pH 0 pE 2 pL 96 PACC 223 PREL 90; row 23: H E 12 64 22 55 30; row 24: I E ... PACC 0 PREL 0
    assert p.sequence[0] == "R" and p.p3[0].tolist() == pytest.approx([0.0, 0.02, 0.96])
    assert (p.pacc[0], p.prel[0]) == (223, 90)
    assert p.sequence[22] == "H" and SS3[p.ss3[22]] == "E" and p.p3[22].tolist() == pytest.approx([0.12, 0.64, 0.22])
    assert (p.pacc[22], p.prel[22]) == (55, 30) and (p.pacc[23], p.prel[23]) == (0, 0)
    # PREL is a 10-class midpoint, PACC its absolute value on REPROF's own maxima, rounded down: on every row
    assert set(p.prel.astype(int)) <= {0, 2, 6, 12, 20, 30, 42, 56, 72, 90}
    maxima = np.array([bench_peers.REPROF_MAX_ACC[a] for a in p.sequence])
    assert (p.pacc == np.floor(p.prel * maxima / 100)).all()


def test_reprof_rsa_on_the_labels_scale_or_as_reprof_gives_it():
    p = bench_peers.parse_reprof(OUTPUT.read_text())
    tien = bench_peers.reprof_rsa(p.sequence, p.prel)
    assert tien[0] == pytest.approx(0.90 * 248 / 274)      # R: PREL 90 % of 248 A^2, over Tien's 274 A^2
    assert tien[22] == pytest.approx(0.30 * 184 / 224)     # H: PREL 30
    assert tien[23] == 0.0
    assert bench_peers.reprof_rsa(p.sequence, p.prel, "prel")[0] == pytest.approx(0.90)
    assert np.isnan(bench_peers.reprof_rsa("AXA", np.array([30.0, 30.0, 30.0])))[1]
    assert bench_peers.reprof_query("ACUXbZ") == "ACXXXX"


def test_parse_reprof_refuses_a_damaged_table_in_one_line():
    text = OUTPUT.read_text()
    with pytest.raises(UserError, match="no column PREL"):
        bench_peers.parse_reprof(text.replace("\tPREL\t", "\tPRE\t"))
    cut = text.rstrip("\n").rsplit("\t", 1)[0]  # the last row loses its last field
    with pytest.raises(UserError, match="row 85 is damaged"):
        bench_peers.parse_reprof(cut)


def stub_reprof(tmp_path):
    """An executable that answers `reprof -i ONE_RECORD.fasta -o OUT` with the fixture (and fails otherwise)."""
    exe = tmp_path / "reprof"
    exe.write_text(f"""#!/bin/sh
[ "$1" = "-i" ] && [ "$3" = "-o" ] || {{ echo "usage: reprof -i IN -o OUT" >&2; exit 3; }}
[ "$(grep -c '^>' "$2")" = 1 ] && grep -qx '{SEQUENCE}' "$2" || {{ echo "not 1A1I_A" >&2; exit 4; }}
cp {OUTPUT} "$4"
""")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


@pytest.mark.data(DSSP)
def test_table_scores_reprof_and_a_multitask_model_on_the_same_chain(tmp_path, capsys):
    from ss_predict.data.formats import read_any

    ckpt = tiny_checkpoint(tmp_path / "mt.pt", tasks=("ss8", "rsa"))
    code, out, err = run_cli(bench_peers.main, capsys, "--data", str(DATA / DSSP), "--format", "dssp", "--model",
                             str(ckpt), "--reprof", str(stub_reprof(tmp_path)), "--json", str(tmp_path / "p.json"))
    assert code == 0, err
    rows = [ln for ln in out.splitlines() if ln.startswith("| ")]
    assert rows[0] == "| tool | chains | residues | Q3 | RSA PCC | 2-state | res/s |"
    assert rows[1].startswith("| REPROF") and rows[2].startswith(f"| ss-predict ({ckpt})")
    chain = read_any(DATA / DSSP, "dssp")[0]
    q3 = 100 * np.mean(parse_ss3(PHEL) == chain.ss3)   # every residue of 1A1I_A is labelled
    rsa = bench_peers.reprof_rsa(SEQUENCE, bench_peers.parse_reprof(OUTPUT.read_text()).prel)
    pcc = np.corrcoef(chain.rsa, rsa)[0, 1]
    exposed = 100 * np.mean((chain.rsa >= 0.25) == (rsa >= 0.25))
    assert rows[1].split(" | ")[1:6] == ["1", "85", f"{q3:.1f}", f"{pcc:.3f}", f"{exposed:.1f}"]
    assert all(c != "-" for c in rows[2].split(" | ")[3:7])  # the rsa head's columns are filled
    saved = json.loads((tmp_path / "p.json").read_text())["rows"]
    assert saved[0]["q3"] == pytest.approx(q3) and saved[0]["rsa_residues"] == 85
    assert saved[1]["load_seconds"] > 0 and saved[1]["tasks"] == ["ss8", "rsa"]


@pytest.mark.data(DSSP)
def test_a_model_without_rsa_head_gets_dashes(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "ss.pt")
    code, out, err = run_cli(bench_peers.main, capsys, "--data", str(DATA / DSSP), "--format", "dssp",
                             "--model", str(ckpt), "--tools", "ss-predict")
    assert code == 0, err
    row = next(ln for ln in out.splitlines() if ln.startswith("| ss-predict"))
    cells = row.strip("| ").split(" | ")
    assert cells[4:6] == ["-", "-"] and cells[3] != "-" and cells[6] != "-"


@pytest.mark.data(DSSP)
def test_missing_reprof_is_one_line(tmp_path, capsys):
    err = error_of(bench_peers.main, capsys, "--data", str(DATA / DSSP), "--format", "dssp", "--tools", "reprof",
                   "--reprof", str(tmp_path / "no-reprof"))
    assert "REPROF not found" in err and "apt-get install reprof" in err
