"""Classic DSSP reader on the real CMBI DSSP files (cmbi_dssp_chains/dssp_sample)."""
import numpy as np
import pytest

from ss_predict.core.alphabet import SS8
from ss_predict.errors import FormatError
from ss_predict.data.formats import detect, read_any
from ss_predict.data.formats.dssp import read_dssp

pytestmark = pytest.mark.data("cmbi_dssp", "scratch1d")  # the CMBI DSSP files; scratch1d for one refusal


@pytest.fixture(scope="module")
def cmbi(data_root):
    return data_root / "cmbi_dssp_chains"


def _table_lines(path):
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("  #  RESIDUE")) + 1
    return lines[start:]


def test_counts_and_detection(cmbi, data_root):
    sample = cmbi / "dssp_sample"
    one = read_any(sample / "153L.dssp")
    assert detect(sample / "153L.dssp") == "dssp" and detect(sample) == "dssp"
    assert len(one) == 1 and len(one[0]) == 185 and one[0].id == "153L_A"
    three = read_any(sample / "1A12.dssp")
    assert [p.id for p in three] == ["1A12_A", "1A12_B", "1A12_C"]
    assert sum(len(p) for p in three) == 1203
    # SCRATCH-1D's SSpro8.dssp is a label file, not DSSP output: never taken for classic DSSP
    assert detect(data_root / "scratch1d_sspro8" / "SSpro8.dssp") != "dssp"


def test_listed_chains_match_chains_txt(cmbi):
    """The reader reproduces chains.txt (same data, extracted with the same rules) on every sample chain."""
    got = read_dssp(cmbi / "dssp_sample", chains=cmbi / "CATH_info.txt")
    assert len(got) == 13  # one listed chain per sample file
    ref = {p.id: p for p in read_any(cmbi / "chains.txt", "three_line")}
    for p in got:
        r = ref[p.id.replace("_", "")]
        assert p.sequence == r.sequence, p.id
        np.testing.assert_array_equal(p.ss8, r.ss8, err_msg=p.id)
    assert sum(len(p) for p in got) == sum(len(ref[p.id.replace("_", "")]) for p in got)


def test_breaks_cysteines_blank_state_and_acc(cmbi):
    path = cmbi / "dssp_sample" / "1XA1.dssp"
    rows = [ln for ln in _table_lines(path) if ln[9] != " " and ln[11] == "A"]  # residues of chain A
    breaks = [ln for ln in _table_lines(path) if ln[13] == "!" and ln[9] == " "]
    assert len(breaks) == 11  # 3 between chains, 8 inside chains: skipped, segments joined
    a = next(p for p in read_dssp(path) if p.id == "1XA1_A")
    assert len(a) == len(rows) and "!" not in a.sequence
    assert "".join(SS8[i] for i in a.ss8) == "".join(ln[16] if ln[16] != " " else "C" for ln in rows)
    np.testing.assert_array_equal(a.extras["acc"], [int(ln[34:38]) for ln in rows])
    # lower-case letters are cysteines in a disulphide bridge: read as C
    g = read_dssp(cmbi / "dssp_sample" / "1GVZ.dssp")[0]
    lower = [i for i, ln in enumerate(ln for ln in _table_lines(cmbi / "dssp_sample" / "1GVZ.dssp")
                                      if ln[9] != " ") if ln[13].islower()]
    assert len(lower) == 10 and all(g.sequence[i] == "C" for i in lower)
    assert g.sequence.isupper()


def test_errors_name_file_and_chain(cmbi, tmp_path):
    src = cmbi / "dssp_sample" / "153L.dssp"
    listed = tmp_path / "list.txt"
    listed.write_text("153LB Alpha\n")
    with pytest.raises(FormatError, match=r"153L.dssp: listed chain\(s\) B not in the file"):
        read_dssp(src, chains=listed)
    lines = src.read_text().splitlines(keepends=True)
    dup = tmp_path / "153L.dssp"
    dup.write_text("".join(lines + lines[-1:]))  # the last residue line twice
    with pytest.raises(FormatError, match="chain 'A' residue .* occurs twice"):
        read_dssp(dup)
    not_dssp = tmp_path / "x.dssp"
    not_dssp.write_text(">a\nCCHH\n")
    with pytest.raises(FormatError, match="not a classic DSSP file"):
        read_dssp(not_dssp)


def test_chains_txt_reads_as_three_line(cmbi):
    chains = read_any(cmbi / "chains.txt")
    assert detect(cmbi / "chains.txt") == "three_line"
    # every record read, every residue kept: counted from the file itself (the data set's size has changed before)
    assert len(chains) == (cmbi / "chains.txt").read_text().count("\n>") + 1 and len(chains) > 3000
    assert sum(len(p) for p in chains) == sum(len(ln) for ln in (cmbi / "chains.txt").read_text().splitlines()[1::3])
    assert chains[0].id == "153LA"
