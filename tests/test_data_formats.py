"""data/formats/: every reader on the real sets (counts), the Zhou writer's public convention, FASTA cleaning and
refusals (binary data, gzip bombs, unreadable files, nucleotides)."""
import gzip
import tracemalloc

import numpy as np
import pytest

from conftest import FASTA
from ss_predict.core.alphabet import SS8, UNSCORED
from ss_predict.errors import FormatError, UserError
from ss_predict.data.formats import detect, read_any
from ss_predict.data.formats.fasta import parse_fasta, parse_records
from ss_predict.data.formats.zhou import read_zhou, to_zhou_array, write_zhou


@pytest.mark.data("cb513")
def test_netsurfp_cb513_counts(data_root):
    cb = read_any(data_root / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv")
    assert len(cb) == 511
    assert sum(len(p) for p in cb) == 144011
    assert sum(p.n_scored for p in cb) == 83427
    assert sum(p.n_scored > 0 for p in cb) == 509
    # unresolved residues are never scored, even though the file labels them C
    assert all((p.ss8 >= 0).sum() == p.n_scored for p in cb)


@pytest.mark.data("ts115")
def test_netsurfp_ts115_counts(data_root):
    ts = read_any(data_root / "ps4_netsurfp_cb513_ts115/TS115_HHblits.csv")
    assert len(ts) == 115 and sum(len(p) for p in ts) == 29704
    assert sum(p.n_scored for p in ts) == 29704 - 2203


@pytest.mark.data("casp12", "bc40")
def test_three_line_lift_and_bc40(data_root):
    casp12 = read_any(data_root / "lift_ss_testsets/CASP12.txt")
    assert detect(data_root / "lift_ss_testsets/CASP12.txt") == "three_line"
    assert len(casp12) == 47 and sum(len(p) for p in casp12) == 13718
    assert sum(p.n_scored for p in casp12) == 13718 - 1276  # X is unscored
    bc40 = read_any(data_root / "shufflenet_ss_bc40/BC40_MSA_30.txt")
    assert len(bc40) == 2009 and sum(len(p) for p in bc40) == 278737
    # P (polyproline) and L read as coil
    raw = (data_root / "lift_ss_testsets/CASP12.txt").read_text().split("\n")
    lab = raw[2]
    p = casp12[0]
    for i, c in enumerate(lab):
        if c in "LP":
            assert SS8[p.ss8[i]] == "C"
        if c == "X":
            assert p.ss8[i] == UNSCORED


@pytest.mark.data("scratch1d", "flip_train")
def test_scratch_and_flip(data_root):
    sc = read_any(data_root / "scratch1d_sspro8")
    assert len(sc) == 5772 and sum(len(p) for p in sc) == 1031455
    assert sc[0].id == "4gvp_A"
    flip = read_any(data_root / "flip_netsurfp2_3state")
    assert len(flip) == 11156
    assert all(p.ss8 is None and p.ss3 is not None for p in flip)  # 3-state only
    assert sum(len(p) - p.n_scored for p in flip) == 186876  # mask.fasta zeros
    train = read_any(data_root / "flip_netsurfp2_3state", split="train")
    assert len(train) == 9712 and sum(len(p) for p in train) == 2479773
    assert len(read_any(data_root / "flip_netsurfp2_3state", split="test")) == 364


@pytest.mark.data("casp10", "casp11")
def test_casp_h5(data_root):
    c10 = read_any(data_root / "dcblstm_casp10_casp11/casp10.h5")
    c11 = read_any(data_root / "dcblstm_casp10_casp11/casp11.h5")
    assert len(c10) == 123 and sum(len(p) for p in c10) == 22041
    assert len(c11) == 105 and sum(len(p) for p in c11) == 19201
    assert all(p.profile is not None and p.profile.shape == (len(p), 22) for p in c10)
    assert min(len(p) for p in c10) == 27 and max(len(p) for p in c10) == 498


@pytest.mark.data("casp10", "scratch1d")
def test_zhou_roundtrip_real_records(tmp_path, data_root):
    """Writer -> reader gives the same sequences, labels and profiles (incl. a chain > 700 residues)."""
    recs = read_any(data_root / "dcblstm_casp10_casp11/casp10.h5")[:20]
    long = max(read_any(data_root / "scratch1d_sspro8"), key=len)
    assert len(long) > 1200 and long.n_scored == len(long)  # needs three overlapping rows
    recs = recs + [long]
    path = tmp_path / "mine.npy.gz"
    counts = write_zhou(recs, path)
    assert counts == {"proteins": len(recs), "rows": len(recs) + 2, "dropped_residues": 0, "dropped_chains": 0}
    arr = np.load(gzip.open(path), allow_pickle=False)
    assert arr.shape == (len(recs) + 2, 700 * 57)  # stored flat, as the public files
    back = read_zhou(path)
    assert len(back) == len(recs)
    for a, b in zip(recs, back):
        assert a.sequence.replace("U", "X").replace("Z", "X") == b.sequence
        np.testing.assert_array_equal(a.ss8, b.ss8)
        if a.profile is None:
            assert b.profile is None
        else:
            np.testing.assert_allclose(a.profile, b.profile, atol=1e-6)
    # plain .npy and the flat / 3-D layouts read the same
    np.save(tmp_path / "flat.npy", arr.reshape(-1, 700, 57))
    assert [p.sequence for p in read_zhou(tmp_path / "flat.npy")] == [p.sequence for p in back]


def _check_public_convention(rows: np.ndarray) -> np.ndarray:
    """Column by column, the convention other loaders rely on; returns each row's length."""
    pad = rows[:, :, 21] == 1
    assert np.array_equal(rows[:, :, 30] == 1, pad)  # NoSeq label exactly where NoSeq residue
    lengths = (1 - rows[:, :, 30]).sum(1).astype(int)  # how other loaders take the chain length
    for row, n in zip(rows, lengths):
        assert (row[:n, 21] == 0).all() and (row[n:, 21] == 1).all()  # real residues first, then padding
        assert (row[:n, :21].sum(1) == 1).all() and (row[:n, :21].max(1) == 1).all()
        assert (row[:n, 22:30].sum(1) == 1).all() and (row[:n, 22:30].max(1) == 1).all()  # one of 8 labels
        assert not row[n:, :21].any() and not row[n:, 22:30].any() and not row[n:, 31:].any()
    return lengths


@pytest.mark.data("casp12", "flip_train")
def test_zhou_writer_follows_the_public_convention(tmp_path, data_root):
    """Unlabelled residues (CASP12's X) are dropped, so NoSeq marks padding only; 3-state chains dropped."""
    casp12 = read_any(data_root / "lift_ss_testsets/CASP12.txt")
    long = next(p for p in casp12 if p.id == "5nv4_A")
    assert len(long) == 1494 and long.n_scored == 1369  # 125 X: three rows after dropping them
    flip = read_any(data_root / "flip_netsurfp2_3state", split="test")[:3]  # 3-state labels only
    path = tmp_path / "casp12.npy.gz"
    counts = write_zhou(casp12 + flip, path)
    assert counts["proteins"] == 47 and counts["dropped_chains"] == 3
    assert counts["dropped_residues"] == 13718 - 12442  # every X of CASP12
    rows = np.load(gzip.open(path), allow_pickle=False).reshape(-1, 700, 57)
    assert rows.shape[0] == counts["rows"] == 47 + 2
    lengths = _check_public_convention(rows)
    i = [p.id for p in casp12].index("5nv4_A")
    assert lengths[i:i + 3].tolist() == [700, 700, 700]  # rows start at 0, 500 and 1369 - 700
    back = read_zhou(path)
    assert len(back) == 47
    for a, b in zip(casp12, back):
        keep = a.ss8 >= 0
        assert b.sequence == "".join(c for c, k in zip(a.sequence, keep) if k)
        np.testing.assert_array_equal(b.ss8, a.ss8[keep])
    assert sum(len(p) for p in back) == sum(p.n_scored for p in casp12) == 12442
    # nothing labelled with 8 states: refused, nothing written
    with pytest.raises(UserError, match="none of the 3 chains has 8-state labels"):
        write_zhou(flip, tmp_path / "flip.npy.gz")
    assert not (tmp_path / "flip.npy.gz").exists()


@pytest.mark.data("scratch1d")
def test_zhou_cb513_split_protein_and_named_splits(tmp_path, data_root):
    """A 514-row CB513-like file without terminal flags: its last two rows merge into one protein."""
    sc = read_any(data_root / "scratch1d_sspro8")
    short = [p for p in sc if len(p) <= 700][:512]
    long = next(p for p in sc if 800 < len(p) <= 1200)
    arr, _ = to_zhou_array(short + [long])
    assert arr.shape[0] == 514
    arr[:, :, 31:33] = 0  # real Zhou files need not carry terminal flags
    np.save(tmp_path / "cb513+profile_split1.npy", arr)
    got = read_zhou(tmp_path / "cb513+profile_split1.npy")
    assert len(got) == 513 and got[-1].sequence == long.sequence
    np.testing.assert_array_equal(got[-1].ss8, long.ss8)
    assert len(read_zhou(tmp_path / "cb513+profile_split1.npy", merge=False)) == 514
    # named splits are defined by the 6133 / 5926 row layouts
    with pytest.raises(FormatError, match="split"):
        read_zhou(tmp_path / "cb513+profile_split1.npy", split="train")
    big = np.lib.format.open_memmap(tmp_path / "cullpdb+profile_6133.npy", "w+", np.uint8, (6133, 700, 57))
    big[:, :, 21] = 1  # (0/1 values: bytes hold them, and the file is a quarter of float32's 1 GB)
    big[:, 0, 21], big[:, 0, 0], big[:, 0, 22 + 5] = 0, 1, 1  # one residue (A, label H) per row
    big.flush()
    del big
    sizes = {s: len(read_zhou(tmp_path / "cullpdb+profile_6133.npy", split=s)) for s in ("train", "test", "valid")}
    assert sizes == {"train": 5600, "test": 272, "valid": 256}


def _fasta(tmp_path, text, name="in.fasta"):
    p = tmp_path / name
    p.write_text(text) if isinstance(text, str) else p.write_bytes(text)
    return p


def test_fasta_cleaning(tmp_path):
    ps, _ = parse_fasta(_fasta(tmp_path, ">a desc\nmkvU\nBZOx*\n>b\nACDE\n"))
    assert [p.id for p in ps] == ["a", "b"]
    assert ps[0].sequence == "MKVXXXXX"


@pytest.mark.parametrize("text,msg", [
    ("", "empty file"),
    ("ACDE\n", "does not start with '>'"),
    (">a\n\n>b\nAC\n", "'a' has an empty sequence"),
    (">a\nAC-DE\n", "'a' position 3: gap"),
    (">a\nACDE\n>a\nAC\n", "duplicate id 'a'"),
    (">a\nAC1DE\n", "'a' position 3: '1'"),
    (b"\x00\x01\x02binary", "binary"),
])
def test_fasta_errors_name_the_record(tmp_path, text, msg):
    with pytest.raises(FormatError, match=msg):
        parse_fasta(_fasta(tmp_path, text))


def test_fasta_skip_invalid(tmp_path):
    ps, problems = parse_fasta(_fasta(tmp_path, ">a\nAC1\n>b\nACD\n>c\n\n"), skip_invalid=True)
    assert [p.id for p in ps] == ["b"] and len(problems) == 2


@pytest.mark.data("casp12")
def test_processed_set_leaves_out_named_pools(tmp_path, data_root):
    """`exclude_sources` drops one pool's chains from a built set (the new-data ablation), and a name that is
    no pool of the set is an error, not a silent no-op."""
    from omegaconf import OmegaConf

    from ss_predict.errors import FormatError
    from ss_predict.data.formats.processed import read_processed, to_line, write_processed
    from ss_predict.data.splits import load_split
    casp = read_any(data_root / "lift_ss_testsets/CASP12.txt")[:9]
    lines = [to_line(p, "pool_a" if i % 3 else "pool_b", "valid" if i == 8 else "train") for i, p in enumerate(casp)]
    write_processed(lines, tmp_path / "set.jsonl.gz")
    spec = OmegaConf.create({"format": "processed", "path": str(tmp_path / "set.jsonl.gz"), "split": "train",
                             "exclude_sources": ["pool_b"]})
    kept = load_split(spec)
    assert [p.id for p in kept] == [casp[i].id for i in (1, 2, 4, 5, 7)]
    assert all(p.extras["source"] == "pool_a" for p in kept)
    assert len(read_processed(tmp_path / "set.jsonl.gz", split="train")) == 8
    with pytest.raises(FormatError, match="pool_c"):
        read_processed(tmp_path / "set.jsonl.gz", exclude_sources=["pool_c"])


def test_gzip_bomb_is_refused_in_bounded_memory(tmp_path):
    """1 GiB of zeros packed into ~1 MB: refused as it unpacks (NUL bytes), with a few MB of Python memory."""
    bomb = tmp_path / "bomb.fa.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(b">x\n")
        block = b"\0" * (1 << 20)
        for _ in range(1024):
            fh.write(block)
    assert bomb.stat().st_size < 2 << 20
    tracemalloc.start()
    with pytest.raises(FormatError, match="binary data"):
        parse_fasta(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 << 20, peak
    long_line = tmp_path / "long.fa.gz"
    with gzip.open(long_line, "wb") as fh:
        fh.write(b">x\n" + b"A" * (40 << 20))
    with pytest.raises(FormatError, match="MiB long"):
        parse_fasta(long_line)


def test_unreadable_input_is_one_line(tmp_path, monkeypatch):
    """Root reads any file, so the PermissionError is raised by a stand-in `open` for this one path."""
    from ss_predict.data.formats import fasta as fasta_mod
    p = tmp_path / "locked.fasta"
    p.write_text(FASTA)
    real_open = open

    def locked(path, *a, **k):
        if str(path) == str(p):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)
    monkeypatch.setattr(fasta_mod, "open", locked, raising=False)
    with pytest.raises(FormatError, match="permission denied"):
        fasta_mod.parse_fasta(p)


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


@pytest.mark.data("scratch1d")
def test_scratch_exposure_is_accpro_letters(data_root):
    """ACCpro.dssp ('e' exposed at >= 25% RSA, '-' buried) -> exposed 1 / 0, record by record."""
    sc = read_any(data_root / "scratch1d_sspro8")
    acc = (data_root / "scratch1d_sspro8" / "ACCpro.dssp").read_text().splitlines()
    assert acc[0] == ">pdb,4gvp,A,#1" and acc[1].startswith("e-e------eeee")
    first = sc[0]
    assert first.id == "4gvp_A" and first.exposed.dtype == np.int8 and len(first.exposed) == len(first)
    assert first.exposed[:9].tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0]
    assert first.exposed.tolist() == [1 if c == "e" else 0 for c in acc[1]]
    assert first.exposed.sum() == acc[1].count("e") == 99
    assert sc[-1].exposed.tolist() == [1 if c == "e" else 0 for c in acc[-1]]  # the last record too: no shift
    assert first.rsa is None and first.disorder is None and first.ss8 is not None  # nothing made up


@pytest.mark.data("flip_train")
def test_flip_mask_zeros_are_disorder(data_root):
    """mask.fasta 0 (unresolved) -> disorder 1 and unscored structure; 1 -> disorder 0."""
    flip = read_any(data_root / "flip_netsurfp2_3state")
    mask = (data_root / "flip_netsurfp2_3state" / "mask.fasta").read_text().splitlines()
    assert mask[0] == ">1es5-A" and mask[1].startswith("0011") and mask[1].count("0") == 2
    p = next(r for r in flip if r.id == "1es5-A")
    assert p.disorder.dtype == np.int8 and p.disorder[:4].tolist() == [1, 1, 0, 0] and p.disorder.sum() == 2
    assert (p.ss3[:2] == UNSCORED).all() and (p.ss3[2:] >= 0).all()
    # every record: disorder exactly where the mask says 0
    masks = dict(zip((m[1:] for m in mask[0::2]), mask[1::2]))
    assert sum(int(r.disorder.sum()) for r in flip) == sum(m.count("0") for m in masks.values()) == 186876
    two = next(r for r in flip if r.id == mask[2][1:])
    assert two.disorder.tolist() == [1 if c == "0" else 0 for c in mask[3]]


@pytest.mark.data("cb513")
def test_netsurfp_csv_disorder_column_is_disorder(data_root):
    """The CSV's disorder column (0 = unresolved) -> disorder 1; cb513_mask only unscores structure, it is no
    disorder label."""
    import csv
    path = data_root / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv"
    cb = read_any(path)
    rows = list(csv.reader(open(path), skipinitialspace=True))[1:]
    p = cb[16]  # CB513|16: 320 residues, disorder 0 at the first two, cb513_mask 0 on 234
    assert p.id == "CB513|16" and rows[16][3].split()[:3] == ["0.0", "0.0", "1.0"]
    assert p.disorder.dtype == np.int8 and np.flatnonzero(p.disorder).tolist() == [0, 1]
    assert len(p) - p.n_scored == 234  # outside the CB513 segment: unscored, yet not disordered
    assert cb[3].disorder.tolist() == [0] * 107 + [1]  # CB513|3: only its last residue unresolved
    for p, row in zip(cb, rows):
        assert p.disorder.tolist() == [0 if float(v) == 1.0 else 1 for v in row[3].split()], p.id
    assert p.rsa is None and p.phi is None and p.exposed is None


@pytest.mark.data("cmbi_dssp", "cb513", "scratch1d", "casp12")
def test_processed_set_keeps_every_label(tmp_path, data_root):
    """write -> read gives the labels back (RSA to 4 decimals, angles to 1, NaN / -1 where none); a chain with
    structure only writes no label keys (SS-only sets keep their bytes) and reads back with none."""
    import json

    from ss_predict.data.formats.processed import read_processed, to_line, write_processed
    dssp = read_any(data_root / "cmbi_dssp_chains/dssp_sample/1MWQ.dssp")[:1]  # an X: RSA NaN; ends: angles NaN
    cb = read_any(data_root / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv")[16:17]  # disorder 1 and 0
    sc = read_any(data_root / "scratch1d_sspro8")[:1]  # exposed
    casp = read_any(data_root / "lift_ss_testsets/CASP12.txt")[:1]  # structure only
    recs = dssp + cb + sc + casp
    sc[0].exposed[3] = -1  # an unknown 2-state label
    lines = [to_line(p, "pool", "train") for p in recs]
    assert set(json.loads(lines[-1])) == {"id", "source", "split", "sequence", "ss8", "ss3"}
    assert set(json.loads(lines[0])) - set(json.loads(lines[-1])) == {"rsa", "phi", "psi"}
    assert set(json.loads(lines[1])) - set(json.loads(lines[-1])) == {"disorder"}
    assert set(json.loads(lines[2])) - set(json.loads(lines[-1])) == {"exposed"}
    write_processed(lines, tmp_path / "set.jsonl.gz")
    back = read_processed(tmp_path / "set.jsonl.gz")
    assert [p.id for p in back] == [p.id for p in recs]
    for a, b in zip(recs, back):
        np.testing.assert_array_equal(a.ss3, b.ss3)
        for k, tol in (("rsa", 5e-5), ("phi", 1e-4), ("psi", 1e-4)):
            if getattr(a, k) is None:
                assert getattr(b, k) is None, (a.id, k)
            else:
                assert getattr(b, k).dtype == np.float32
                np.testing.assert_array_equal(np.isnan(getattr(a, k)), np.isnan(getattr(b, k)))
                np.testing.assert_allclose(getattr(b, k), getattr(a, k), atol=tol, err_msg=f"{a.id} {k}")
        for k in ("exposed", "disorder"):
            if getattr(a, k) is None:
                assert getattr(b, k) is None, (a.id, k)
            else:
                assert getattr(b, k).dtype == np.int8
                np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=f"{a.id} {k}")
    assert np.isnan(back[0].rsa[1]) and np.isnan(back[0].phi[0]) and back[2].exposed[3] == -1
