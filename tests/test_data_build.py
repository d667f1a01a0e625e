import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from ss_predict.core.alphabet import AMINO_ACIDS
from ss_predict.data.build.builder import build
from ss_predict.config.compose import load_config
from ss_predict.errors import UserError
from ss_predict.data.formats import read_any
from ss_predict.data.formats.processed import read_processed
from ss_predict.data.build.homology import Blast, MMseqs, homologous_pairs

FIX = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.skipif(shutil.which("mmseqs") is None or shutil.which("blastp") is None,
                                reason="MMseqs2 or BLAST+ not installed (apt-get install mmseqs2 ncbi-blast+)")


def _mutate(seq: str, keep: float, rng) -> str:
    out = list(seq)
    for i in rng.choice(len(seq), size=int(round((1 - keep) * len(seq))), replace=False):
        out[i] = rng.choice([a for a in AMINO_ACIDS if a != seq[i]])
    return "".join(out)


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory, data_root):
    """Real PISCES_25_valid chains plus a planted CB513 chain, a 40%-identity copy of it and a 3-state chain."""
    rng = np.random.default_rng(1)
    cb = read_any(data_root / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv")
    target = next(p for p in cb if 150 <= len(p) <= 250)
    pool = read_any(data_root / "lift_ss_testsets/PISCES_25_valid.txt")[:160]
    d = tmp_path_factory.mktemp("pool")
    lines = []
    for p in pool:
        lines += [f">{p.id}", p.sequence, "L" * len(p)]
    lines += [">planted_cb513", target.sequence, "H" * len(target)]
    # CB513|359 (type-I antifreeze protein, 38 residues of low complexity) inside a longer chain
    afp = next(p for p in cb if p.id.endswith("|359")).sequence
    lines += [">afp_tagged", "MGSSHHHHHHSSGLVPRGSH" + afp, "C" * (len(afp) + 20)]
    lines += [">mutant40", _mutate(target.sequence, 0.40, rng), "E" * len(target)]
    (d / "pool.txt").write_text("\n".join(lines) + "\n")
    return d / "pool.txt", target, pool


def _cfg(pool_path, out, extra=()):
    return load_config("build", [
        "~sources", f"+sources.pool={{format: three_line, path: '{pool_path}'}}",
        "data@benchmarks=[cb513]",
        f"output={out}/set.jsonl.gz", f"manifest={out}/set.manifest.json", "valid_fraction=0.1", *extra])


@pytest.fixture(scope="module")
def built(small_pool, tmp_path_factory):
    """The small pool built once (config, manifest, folder) for the tests that read a build."""
    out = tmp_path_factory.mktemp("built")
    cfg = _cfg(small_pool[0], out)
    return cfg, build(cfg), out


@pytest.mark.data("cb513", "pisces25_valid")
def test_filter_removes_homologues_and_keeps_unrelated(small_pool, built, out_dir):
    pool_path, target, pool = small_pool
    cfg, m, out = built
    removed = {r["id"]: r for r in m["removed"]}
    assert removed["planted_cb513"]["identity"] == 1.0
    assert 0.3 <= removed["mutant40"]["identity"] < 0.5
    assert removed["mutant40"]["benchmark"] == "cb513"
    assert removed["afp_tagged"]["hit"].endswith("|359")
    assert {r["direction"] for r in m["removed"]} <= {"a->b", "b->a", "contained"}
    kept = {p.id for p in read_processed(cfg.output)}
    assert not {"planted_cb513", "mutant40", "afp_tagged"} & kept
    # unrelated real chains stay (PISCES_25 chains barely resemble CB513)
    assert len(kept) + m["counts"]["removed_valid_neighbours"] >= len(pool) - 25
    # no validation chain reaches 25% identity to a training chain (checked independently)
    recs = read_processed(cfg.output)
    train = {p.id: p.sequence for p in recs if p.extras["split"] == "train"}
    valid = {p.id: p.sequence for p in recs if p.extras["split"] == "valid"}
    assert valid and train
    assert homologous_pairs(train, valid, [MMseqs(), Blast()]) == []
    manifest = json.loads((out / "set.manifest.json").read_text())
    assert manifest["counts"]["train_chains"] == len(train) and manifest["counts"]["valid_chains"] == len(valid)
    assert manifest["benchmarks"] == {"cb513": str(cfg.benchmarks.cb513.path)}


@pytest.mark.data("cb513", "pisces25_valid")
def test_build_is_deterministic(small_pool, built, tmp_path, out_dir):
    build(_cfg(small_pool[0], tmp_path / "b"))
    for name in ("set.jsonl.gz", "set.manifest.json"):
        assert (built[2] / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.data("flip_train")
def test_processed_keeps_unscored_and_3state_only(tmp_path, data_root, out_dir):
    flip = read_any(data_root / "flip_netsurfp2_3state", split="test")[:30]
    pool = tmp_path / "flip"
    pool.mkdir()
    for name in ("sampled.fasta", "mask.fasta", "sequences.fasta"):
        (pool / name).symlink_to(data_root / "flip_netsurfp2_3state" / name)
    cfg = load_config("build", ["~sources", f"+sources.flip={{format: flip, path: '{pool}', split: test, limit: 40}}",
                                "data@benchmarks=[cb513]", f"output={tmp_path}/f.jsonl.gz",
                                f"manifest={tmp_path}/f.json"])
    build(cfg)
    back = {p.id: p for p in read_processed(cfg.output)}
    assert sum(p.id in back for p in flip) >= 20  # (a few leave as CB513 homologues)
    for p in flip:
        if p.id in back:
            assert back[p.id].ss8 is None
            np.testing.assert_array_equal(back[p.id].ss3, p.ss3)


def test_missing_or_malformed_source_fails_clearly(tmp_path, out_dir):
    cfg = load_config("build", ["~sources", f"+sources.x={{format: three_line, path: '{tmp_path}/nope.txt'}}",
                                f"output={tmp_path}/o.jsonl.gz", f"manifest={tmp_path}/o.json"])
    with pytest.raises(UserError, match="nope.txt"):
        build(cfg)
    bad = tmp_path / "bad.txt"
    bad.write_text(">a\nACDE\nHHH\n")
    cfg.sources = {"x": {"format": "three_line", "path": str(bad)}}
    with pytest.raises(UserError, match=r"bad.txt.*'a'.*4 residues but 3 labels"):
        build(cfg)
    assert not (tmp_path / "o.jsonl.gz").exists()


@pytest.mark.data("cb513", "pisces25_valid")
def test_audit_train_valid_of_built_set_is_clean(built, capsys):
    from ss_predict.cli import data_main
    cfg = built[0]
    data_main(["audit", f"{cfg.output}:train", f"{cfg.output}:valid"])  # no pair: returns, exit 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["benchmark\ttrain_id\tbenchmark_id\tidentity\taligned\tevalue\tdirection"]
    assert "0 of" in err


@pytest.mark.data("cb513", "pisces25_valid")
def test_audit_finds_planted_homologues(small_pool, data_root, tmp_path, capsys):
    from ss_predict.cli import data_main
    pool_path, target, _ = small_pool
    cb513 = data_root / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv"
    with pytest.raises(SystemExit) as e:
        data_main(["audit", str(pool_path), str(cb513), "-o", str(tmp_path / "pairs.tsv")])
    assert e.value.code == 1
    rows = [r.split("\t") for r in (tmp_path / "pairs.tsv").read_text().splitlines()[1:]]
    found = {(r[1], r[2]): r for r in rows}
    assert ("planted_cb513", target.id) in found and float(found[("planted_cb513", target.id)][3]) == 1.0
    assert ("mutant40", target.id) in found
    afp = next(r for r in rows if r[1] == "afp_tagged")
    assert afp[2].endswith("|359")
    # the same pairs from either side: auditing the benchmark against the pool finds the same chains
    with pytest.raises(SystemExit):
        data_main(["audit", str(cb513), str(pool_path)])
    back = {(r.split("\t")[2], r.split("\t")[1]) for r in capsys.readouterr().out.splitlines()[1:]}
    assert {("planted_cb513", target.id), ("mutant40", target.id)} <= back


@pytest.mark.data("cb513")
def test_exact_containment_catches_chains_too_short_to_align(data_root):
    from ss_predict.data.build.homology import contained_pairs
    afp = next(p for p in read_any(data_root / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv")
               if p.id.endswith("|359")).sequence
    short = afp[5:29]  # 24 residues: below the 30-residue alignment floor (short-chain rule off to test containment)
    hits = homologous_pairs({"short": short, "other": "MKV" * 10}, {"afp": afp}, MMseqs(), min_cover=1.01)
    assert [(h.a, h.b, h.direction) for h in hits] == [("short", "afp", "contained")]
    assert contained_pairs({"x": short[:19]}, {"afp": afp}, min_len=20) == []  # under min_len: not a chain match


@pytest.mark.data("cb513", "cmbi_dssp", "flip_train")
def test_blast_finds_weak_homologues_the_kmer_prefilter_misses(data_root):
    """Real pairs an independent review found: short or weak CB513 homologues in the CMBI and FLIP pools."""
    cb = {p.id: p.sequence for p in read_any(data_root / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv")
          if p.id in ("CB513|60", "CB513|65", "CB513|510")}
    pool = {p.id: p.sequence for p in read_any(data_root / "cmbi_dssp_chains/chains.txt") if p.id in ("1G6UA", "2VK3A")}
    pool |= {p.id: p.sequence for p in read_any(data_root / "flip_netsurfp2_3state", split="train") if p.id == "1p9g-A"}
    expected = {("1G6UA", "CB513|60"), ("2VK3A", "CB513|65"), ("1p9g-A", "CB513|510")}
    blast = {(h.a, h.b): h for h in homologous_pairs(pool, cb, Blast(threads=1))}
    assert set(blast) == expected and all(h.tool == "blastp" and h.evalue <= 0.01 for h in blast.values())
    both = {(h.a, h.b) for h in homologous_pairs(pool, cb, [MMseqs(threads=1), Blast(threads=1)])}
    assert both == expected


@pytest.mark.data("cb513", "scratch1d")
def test_short_chain_aligned_over_nearly_its_whole_length_counts(data_root):
    """CB513|82 (30 residues) aligns 29/29 to SCRATCH's 3hj2 chain A: one residue under the 30-residue floor, yet
    the same peptide. The short-chain rule (>= 90% of the shorter chain, >= 20 residues) catches it with either tool."""
    cb = {p.id: p.sequence for p in read_any(data_root / "ps4_netsurfp_cb513_ts115/CB513_HHblits.csv")
          if p.id == "CB513|82"}
    fasta = (data_root / "scratch1d_sspro8/Proteins.fa").read_text().splitlines()
    pool = {"3hj2_A": fasta[fasta.index(">pdb,3hj2,A,#1") + 1]}
    for tool in (MMseqs(threads=1), Blast(threads=1)):
        hits = homologous_pairs(pool, cb, tool)
        assert [(h.a, h.b, h.aln_len) for h in hits] == [("3hj2_A", "CB513|82", 29)]
        assert homologous_pairs(pool, cb, tool, min_cover=1.0) == []  # without the rule it slips through


def test_mmseqs_own_kmer_size_finds_pairs_the_5mer_prefilter_misses(tmp_path, capsys):
    """Real pairs an independent check (MMseqs2 defaults) found in the v3 build (#28): TS115|64 (95 residues) /
    4wby-A, 25.3% over the shorter chain, and TS115|43 (77) / 3f5o-F, 27.3%. The 5-mer prefilter alone never
    proposes them; the builder and `ss-data audit` now also search with MMseqs2's own k-mer size."""
    train = {p.id: p.sequence for p in read_any(FIX / "kmer_blind_spot_train.fasta")}
    ts115 = {p.id: p.sequence for p in read_any(FIX / "kmer_blind_spot_ts115.fasta")}
    expected = [("3f5o-F", "TS115|43"), ("4wby-A", "TS115|64")]
    assert homologous_pairs(train, ts115, MMseqs(threads=1, kmers=(5,))) == []  # the blind spot
    hits = homologous_pairs(train, ts115, MMseqs(threads=1))
    assert [(h.a, h.b) for h in hits] == expected and all(0.25 <= h.identity < 0.28 for h in hits)
    # the builder's configured search and the audit share it
    cfg = load_config("build", ["paths.output_dir=" + str(tmp_path)])
    assert list(MMseqs(**OmegaConf.to_container(cfg.mmseqs)).kmers) == [5, 0]
    from ss_predict.cli import data_main
    with pytest.raises(SystemExit) as e:
        data_main(["audit", str(FIX / "kmer_blind_spot_train.fasta"), str(FIX / "kmer_blind_spot_ts115.fasta"),
                   "--threads", "1", "--no-blast"])
    out = capsys.readouterr()
    assert e.value.code == 1 and "2 of 2 chains with a homologue" in out.err
    assert "4wby-A\tTS115|64" in out.out and "3f5o-F\tTS115|43" in out.out


def test_independent_audit_script_finds_the_real_pairs_and_refuses_bad_arguments(tmp_path):
    """scripts/independent_audit.py (the outside review's criteria): exit 1 with the pairs, 2 on a bad argument."""
    import subprocess
    import sys
    script = [sys.executable, str(Path(__file__).resolve().parents[1] / "scripts" / "independent_audit.py")]
    train, ts115 = FIX / "kmer_blind_spot_train.fasta", FIX / "kmer_blind_spot_ts115.fasta"
    r = subprocess.run([*script, str(train), f"ts115={ts115}", "--threads", "1", "-o", str(tmp_path / "p.tsv")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "ts115: 2 of 2 chains with a homologue" in r.stdout, r.stderr
    rows = (tmp_path / "p.tsv").read_text().splitlines()[1:]
    assert sorted(row.split("\t")[1] for row in rows) == ["3f5o-F", "4wby-A"]
    for bad in ([str(train), "ts115"], [str(tmp_path / "none.fasta"), f"ts115={ts115}"]):
        r = subprocess.run([*script, *bad], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr


@pytest.mark.data("cb513", "pisces25_valid", "cmbi_dssp")
def test_test_split_holds_out_dssp_clusters_clean_of_every_other_chain(data_root, tmp_path, out_dir):
    """test_split: test chains only from the named pools, whole clusters; every other chain homologous to a test
    chain removed (here: each DSSP chain planted inside a chain four times as long, too little of it to cluster
    with it, yet homologous by the audit's criteria), counted in the manifest; the labels reach the processed set."""
    from ss_predict.data.formats.dssp import read_dssp
    rng = np.random.default_rng(3)
    dssp = read_dssp(data_root / "cmbi_dssp_chains/dssp_sample")
    seen, lines = set(), []
    for p in read_any(data_root / "lift_ss_testsets/PISCES_25_valid.txt")[:30]:
        lines += [f">{p.id}", p.sequence, "L" * len(p)]
    for p in dssp:
        if p.sequence not in seen:
            seen.add(p.sequence)
            tail = "".join(rng.choice(list(AMINO_ACIDS), 3 * len(p)))
            planted = tail[:len(tail) // 2] + p.sequence + tail[len(tail) // 2:]
            lines += [f">tag_{p.id}", planted, "C" * len(planted)]
    (tmp_path / "pool.txt").write_text("\n".join(lines) + "\n")
    cfg = _cfg(tmp_path / "pool.txt", tmp_path / "out", [
        f"+sources.dssp={{format: dssp, path: '{data_root}/cmbi_dssp_chains/dssp_sample'}}",
        "test_split.pools=[dssp]", "test_split.fraction=0.5"])
    m = build(cfg)
    recs = read_processed(cfg.output)
    by = {s: {p.id: p for p in recs if p.extras["split"] == s} for s in ("train", "valid", "test")}
    test = by["test"]
    assert len(test) >= 3 and all(p.extras["source"] == "dssp" for p in test.values())
    # no train / valid chain homologous to a test chain, checked again with the audit's tools and criteria
    rest = {k: p.sequence for s in ("train", "valid") for k, p in by[s].items()}
    assert rest and homologous_pairs(rest, {k: p.sequence for k, p in test.items()}, [MMseqs(), Blast()]) == []
    # ... which took removing the planted copies of the test chains, and only those
    # (a planted copy can go earlier, as a CB513 homologue: the build's e-value 1.0 lets its random part hit one)
    removed = {r["id"]: r["test_chain"] for r in m["removed_test_neighbours"]}
    benchmark = {r["id"] for r in m["removed"]}
    assert all(removed.get(f"tag_{k}") == k or f"tag_{k}" in benchmark for k in test)
    assert len(removed) >= 3 and set(removed.values()) <= set(test) and not set(removed) & set(rest)
    assert m["counts"]["test_chains"] == len(test) and m["sources"]["dssp"]["test_chains"] == len(test)
    assert m["sources"]["pool"]["test_chains"] == 0 and m["counts"]["removed_test_neighbours"] == len(removed)
    assert m["counts"]["test_residues"] == sum(len(p) for p in test.values())
    assert m["test_split"]["pools"] == ["dssp"] and m["test_split"]["fraction"] == 0.5
    # the DSSP labels survive into the processed set, for test and training chains alike; the pool has none
    orig = {p.id: p for p in dssp}
    dssp_kept = [p for s in by.values() for p in s.values() if p.extras["source"] == "dssp"]
    assert len(dssp_kept) > len(test)
    for p in dssp_kept:
        o = orig[p.id]
        np.testing.assert_allclose(p.rsa, o.rsa, atol=5e-5, equal_nan=True)
        np.testing.assert_allclose(p.phi, o.phi, atol=1e-4, equal_nan=True)
        np.testing.assert_allclose(p.psi, o.psi, atol=1e-4, equal_nan=True)
    assert all(p.rsa is None and p.phi is None for s in by.values() for p in s.values() if p.extras["source"] == "pool")
