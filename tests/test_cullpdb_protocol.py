"""The classic CullPDB -> CB513 protocol: configs compose, CB513 (Zhou) counts, profile rows follow the built split."""
import numpy as np
import pytest

from ss_predict.config.compose import load_config
from ss_predict.errors import FormatError
from ss_predict.data.formats import read_any
from ss_predict.data.formats.processed import to_line, write_processed
from ss_predict.data.formats.zhou import write_zhou
from ss_predict.data.splits import load_split


def test_experiment_composes_on_the_built_cullpdb_set(out_dir):
    cfg = load_config("train", ["experiment=cullpdb_cb513"])
    assert cfg.model.name == "cnn_bigru" and cfg.features == "onehot" and cfg.name == "cullpdb_cb513_onehot_s0"
    built = load_config("build_cullpdb", [])  # the build config that writes the set (ss-data build --config-name)
    for split in ("train", "valid"):
        assert cfg.data[split].format == "processed" and cfg.data[split].split == split
        assert cfg.data[split].path == built.output and cfg.data[split].manifest == built.manifest
    # one switch to the profile files: same recipe, Zhou .npy.gz rows selected by the same built split
    prof = load_config("train", ["experiment=cullpdb_cb513", "data=cullpdb_cb513_npy", "features=onehot+profile"])
    assert prof.features == "onehot+profile" and prof.name == "cullpdb_cb513_onehot+profile_s0"
    assert prof.trainer.max_epochs == cfg.trainer.max_epochs and prof.model.name == "cnn_bigru"
    for split in ("train", "valid"):
        assert prof.data[split].format == "zhou" and prof.data[split].rows_split == split
        assert prof.data[split].path.endswith("cullpdb+profile_6133_filtered.npy.gz")
        assert prof.data[split].rows_of == built.output


@pytest.mark.data("cb513_zhou")
def test_cb513_zhou_counts_merged_and_by_row(out_dir):
    cfg = load_config("eval", ["data=cb513_zhou"])
    cb = load_split(cfg.data.cb513_zhou)
    # the split protein (rows 513 and 514, 700 residues each, 646 shared) is scored once
    assert len(cb) == 513 and sum(len(p) for p in cb) == 84119 and sum(p.n_scored for p in cb) == 84119
    assert len(cb[-1]) == 754
    rows = read_any(cfg.data.cb513_zhou.path, "zhou_csv", merge=False)
    assert len(rows) == 514 and sum(len(p) for p in rows) == 84765  # the literature's count


@pytest.fixture
def tiny_cullpdb(tmp_path, data_root):
    """A 40-row Zhou file with profiles written from the real CullPDB CSV rows, and a built set naming some rows."""
    rows = read_any(data_root / "zhou_cullpdb_csv/cb6133filtered.npy.csv")[:40]
    rng = np.random.default_rng(0)
    for p in rows:
        p.profile = rng.random((len(p), 22)).astype(np.float32)
    (tmp_path / "data").mkdir()
    write_zhou(rows, tmp_path / "data/cullpdb+profile_6133_filtered.npy.gz")
    split = {i: ("valid" if i % 5 == 0 else "train") for i in range(0, 40, 2)}  # odd rows "filtered out"
    built = tmp_path / "outputs/data/cullpdb_set.jsonl.gz"
    write_processed([to_line(rows[i], "zhou_cullpdb", s) for i, s in split.items()], built)
    return tmp_path, rows, split, built


@pytest.mark.data("zhou_cullpdb_csv/cb6133filtered.npy.csv")
def test_profile_rows_follow_the_built_split(tiny_cullpdb):
    root, rows, split, built = tiny_cullpdb
    overrides = ["experiment=cullpdb_cb513", "data=cullpdb_cb513_npy", "features=onehot+profile",
                 f"paths.data_root={root / 'data'}", f"paths.output_dir={root / 'outputs'}"]
    cfg = load_config("train", overrides)
    for name in ("train", "valid"):
        got = load_split(cfg.data[name])
        want = [i for i, s in split.items() if s == name]
        assert [p.id for p in got] == [f"cullpdb+profile_6133_filtered|{i}" for i in want]
        for p, i in zip(got, want):
            assert p.sequence == rows[i].sequence
            np.testing.assert_allclose(p.profile, rows[i].profile, atol=1e-6)  # the file's profiles come along
    # a built set that is not from this file is refused, naming the row
    other = [to_line(rows[3], "zhou_cullpdb", "train")]
    other[0] = other[0].replace('"cb6133filtered|3"', '"cb6133filtered|2"')
    write_processed(other, built)
    with pytest.raises(FormatError, match=r"row 2 is not the chain 'cb6133filtered\|2'"):
        load_split(cfg.data.train)
