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


def test_rsa_and_angles_agree_with_the_file_by_hand(cmbi):
    """RSA = ACC / Tien et al.'s theoretical maximum of the residue (capped at 1; none for X), PHI / PSI in
    degrees, DSSP's 360.0 (chain ends) no angle: residues read off the files' text."""
    nan = float("nan")
    lys = read_dssp(cmbi / "dssp_sample" / "153L.dssp")[0]
    # '    1    1 A R ...  137 ... 360.0 -73.2': first residue, no phi
    # '    2    2 A T ...   19 ... -124.4   0.2'
    # '    4    4 A a ...   54 ... -60.4 -25.9': a bridged cysteine (C, maximum 167)
    # '  185  185 A Y ...   13 ... -88.7 360.0': last residue, no psi
    for i, aa, acc, top, phi, psi in [(0, "R", 137, 274, nan, -73.2), (1, "T", 19, 172, -124.4, 0.2),
                                      (3, "C", 54, 167, -60.4, -25.9), (184, "Y", 13, 263, -88.7, nan)]:
        assert lys.sequence[i] == aa
        assert lys.rsa[i] == pytest.approx(acc / top, abs=1e-6)
        np.testing.assert_allclose([lys.phi[i], lys.psi[i]], [phi, psi], atol=1e-4, err_msg=f"residue {i + 1}")
    assert lys.rsa.dtype == lys.phi.dtype == np.float32 and len(lys.rsa) == len(lys.phi) == len(lys.psi) == 185
    assert lys.phi.tolist().count(360.0) == lys.psi.tolist().count(360.0) == 0
    assert np.isnan(lys.phi).sum() == 1 and np.isnan(lys.psi).sum() == 1  # one chain, no breaks: its two ends
    # '   85  187 A R ...  285': ACC above the maximum (274) caps at RSA 1
    last = read_dssp(cmbi / "dssp_sample" / "1A1I.dssp")[0]
    assert last.sequence[84] == "R" and last.extras["acc"][84] == 285 and last.rsa[84] == 1.0
    assert np.nanmax(last.rsa) == 1.0
    # '    2    1 A X ...   44 ... -71.1 149.8': an unknown residue has angles but no RSA
    x = read_dssp(cmbi / "dssp_sample" / "1MWQ.dssp")[0]
    assert x.sequence[1] == "X" and np.isnan(x.rsa[1]) and x.rsa[0] == pytest.approx(123 / 224, abs=1e-6)
    np.testing.assert_allclose([x.phi[1], x.psi[1]], [-71.1, 149.8], atol=1e-4)


def test_gzipped_dssp_reads_as_the_plain_file(cmbi, tmp_path):
    """A .dssp.gz (alone, or in a folder) is detected as DSSP and gives the same records: ids without .gz,
    sequence and every label. (CMBI's full folder is .dssp.gz files.)"""
    import gzip
    import shutil
    folder = tmp_path / "gz"
    folder.mkdir()
    for name in ("153L.dssp", "1MWQ.dssp"):
        with open(cmbi / "dssp_sample" / name, "rb") as src, gzip.open(folder / f"{name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    plain = read_dssp(cmbi / "dssp_sample" / "153L.dssp") + read_dssp(cmbi / "dssp_sample" / "1MWQ.dssp")
    assert detect(folder) == detect(folder / "153L.dssp.gz") == detect(cmbi / "dssp") == "dssp"
    for got in (read_any(folder / "153L.dssp.gz") + read_any(folder / "1MWQ.dssp.gz"), read_any(folder)):
        assert [p.id for p in got] == [p.id for p in plain] == ["153L_A", "1MWQ_A", "1MWQ_B"]
        for a, b in zip(plain, got):
            assert a.sequence == b.sequence
            for k in ("ss8", "rsa", "phi", "psi"):
                np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=f"{a.id} {k}")
            np.testing.assert_array_equal(a.extras["acc"], b.extras["acc"])
