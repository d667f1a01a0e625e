"""The Python API (`ss_predict.predict`, `ss_predict.Predictor`, `ss_predict.write`): same validation and numbers
as ss-predict; odd arguments are clear Python exceptions, non-finite probabilities are never written."""
import contextlib
import gzip
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ss_predict
from conftest import FIX
from ss_predict.cli import predict_main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "example.fasta"
UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
TRP_CAGE = "NLYIQWLKDGGPSSGRPPPS"


@pytest.fixture(scope="module")
def predictor():
    return ss_predict.Predictor(model="default", device="cpu")


def cli_json(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        predict_main([*args, "-f", "json"])
    return json.loads(out.getvalue())


def test_import_is_light():
    code = "import sys, ss_predict; assert 'torch' not in sys.modules and 'numpy' not in sys.modules; " \
           "assert callable(ss_predict.predict) and 'Predictor' in dir(ss_predict)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_predict_matches_the_cli(tmp_path):
    preds = ss_predict.predict([UBIQUITIN, ("trp", TRP_CAGE)], model="default", device="cpu")
    assert [p.id for p in preds] == ["seq1", "trp"] and preds[1].sequence == TRP_CAGE
    fa = tmp_path / "in.fasta"
    fa.write_text(f">seq1\n{UBIQUITIN}\n>trp\n{TRP_CAGE}\n")
    for p, rec in zip(preds, cli_json(str(fa))):
        assert p.p8.shape == (len(p.sequence), 8) and p.p3.shape == (len(p.sequence), 3)
        assert isinstance(p.p8, np.ndarray) and isinstance(p.ss8, str) and isinstance(p.ss3, str)
        assert (p.id, p.sequence, p.ss8, p.ss3) == (rec["id"], rec["sequence"], rec["ss8"], rec["ss3"])
        np.testing.assert_allclose(p.p8, rec["p8"], atol=5e-5)
        np.testing.assert_allclose(p.p3, rec["p3"], atol=5e-5)
        assert p.ss3 == "".join(ss_predict.STATES3[i] for i in p.p3.argmax(1))
        assert p.ss8 == "".join(ss_predict.STATES8[i] for i in p.p8.argmax(1))


def test_predictor_reuses_its_model_on_every_input_form(predictor, tmp_path):
    models = predictor.models
    by_path = predictor.predict(str(EXAMPLE))
    gz = tmp_path / "example.fa.gz"
    gz.write_bytes(gzip.compress(EXAMPLE.read_bytes()))
    by_gz = predictor.predict(gz)
    pairs = [(p.id, p.sequence) for p in by_path]
    by_pairs, by_dict = predictor.predict(pairs), predictor.predict(dict(pairs))
    assert predictor.models is models and [p.id for p in by_path] == ["ubiquitin_human", "lysozyme_chicken", "trp_cage"]
    for other in (by_gz, by_pairs, by_dict):
        assert [p.id for p in other] == [p.id for p in by_path]
        for a, b in zip(by_path, other):
            np.testing.assert_array_equal(a.p8, b.p8)


@pytest.mark.parametrize("sequences,words", [
    (["MKVLA", "MK1VL"], ["'seq2' position 3", "'1'"]),
    ([("a", "MKV"), ("a", "MKVL")], ["duplicate id 'a'"]),
    ([("gap", "MK-VL")], ["'gap' position 3", "gap"]),
    ([("e", "  ")], ["'e' has an empty sequence"]),
    ([("dna", "ATGGCTAGCAAAGGAGAAGAACTTTTC")], ["'dna'", "nucleotide", "allow_nucleotide=True"]),
    ([], ["no sequences"]),
    ("MKVLAAGIVGLLLAAHSEEV", ["no such file", "pass a list"]),
    ("/nonexistent/x.fasta", ["file not found"]),
])
def test_invalid_input_raises_a_named_user_error(predictor, sequences, words):
    with pytest.raises(ss_predict.UserError) as e:
        predictor.predict(sequences)
    assert isinstance(e.value, ss_predict.FormatError)
    for w in words:
        assert w in str(e.value)


def test_allow_nucleotide_and_wrong_types(predictor):
    dna = "ATGGCTAGCAAAGGAGAAGAACTTTTC"
    assert predictor.predict([dna], allow_nucleotide=True)[0].sequence == dna
    with pytest.raises(TypeError, match="item 1"):
        predictor.predict([3])
    with pytest.raises(ss_predict.UserError, match="unknown device 'gpu'"):
        ss_predict.Predictor(device="gpu")
    with pytest.raises(ss_predict.UserError, match="no bundled model"):
        ss_predict.Predictor(model="nosuchmodel")


def test_predict_stays_callable_after_the_cli_imports():
    """The CLI's imports (ss_predict.prediction.predictor, ss_predict.api) leave the function ss_predict.predict in place."""
    code = ("import ss_predict; import ss_predict.prediction.predictor, ss_predict.api, ss_predict.cli.predict; "
            "p = ss_predict.predict(['MKVLAAGIVG']); assert p[0].id == 'seq1' and len(p[0].ss8) == 10")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_readme_example_runs(tmp_path, capsys):
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace('"examples/example.fasta"', repr(str(EXAMPLE))).replace(
        '"/tmp/example.horiz"', repr(str(tmp_path / "example.horiz")))
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("seq1 C") and out[1].startswith("trp_cage ") and out[2] == "CBEGIHST HEC"
    assert len(out) == 4 and out[3].count("[") == 5  # the multitask model's rsa, asa, phi, psi and disorder
    assert (tmp_path / "example.horiz").read_text().startswith("# record: ubiquitin_human\n# PSIPRED HFORMAT")


def test_api_odd_arguments(tmp_path, capsys):
    with pytest.raises(ss_predict.FormatError, match="record 1 has an id of type NoneType"):
        ss_predict.predict({None: "MKV"})  # was: a record named 'None'
    with pytest.raises(TypeError, match="got bytes"):
        ss_predict.predict(b"MKV")  # was: "item 1 is a int"
    with pytest.raises(TypeError, match="expected Prediction objects"):
        ss_predict.write([None], tmp_path / "x.ss2")
    assert not (tmp_path / "x.ss2").exists()
    ss_predict.write([], tmp_path / "e.json", "json")
    assert json.loads((tmp_path / "e.json").read_text()) == []  # was "]"
    counts = ss_predict.Predictor().run(str(FIX / "3VOP_A.fasta"), str(tmp_path / "s.ss2"), shard="1/1")
    assert counts["records"] == 1


def test_explicit_ids_are_kept_whole_and_non_ids_refused(predictor):
    """Pairs, mapping keys and SeqRecord ids are ids as given (was: cut at the first space, so two chains of one
    entry clashed as 'chain'); FASTA headers keep their first word."""
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord
    s = "MKVLAAGIVGLLLAAHSEEVKKLLEEAGIDTSK"
    assert [p.id for p in predictor.predict([("chain A", s), ("chain B", s)])] == ["chain A", "chain B"]
    assert [p.id for p in predictor.predict({"1abc A": s, "1abc B": s})] == ["1abc A", "1abc B"]
    assert [p.id for p in predictor.predict([SeqRecord(Seq(s), id="sp|P1|X one")])] == ["sp|P1|X one"]
    assert [p.id for p in predictor.predict(str(EXAMPLE))][0] == "ubiquitin_human"  # header: first word
    for sequences, words in [({(1, 2): s}, "record 1 has an id of type tuple ((1, 2)), not a string"),  # was '(1,'
                             ({"a": s, 7: s}, "record 2 has an id of type int (7)"),
                             ([("", s)], "record 1 has an empty id"), ({" ": s}, "record 1 has an empty id"),
                             ([("a", s), ("x\ny", s)], "record 2 has an id with the control character '\\n'")]:
        with pytest.raises(ss_predict.FormatError) as e:
            predictor.predict(sequences)
        assert str(e.value).startswith(f"sequences: {words}") and "\n" not in str(e.value), e.value


def test_api_rejects_non_string_sequences_and_bad_arguments():
    with pytest.raises(ss_predict.FormatError, match="record 'a'.*not a string"):
        ss_predict.predict({"a": None})
    with pytest.raises(ss_predict.FormatError, match="not a string"):
        ss_predict.predict([("b", 12345)])
    with pytest.raises(TypeError, match="model"):
        ss_predict.Predictor(model=None)
    with pytest.raises(ss_predict.UserError, match="model"):
        ss_predict.Predictor(model="")
    with pytest.raises(TypeError, match="max_tokens"):
        ss_predict.Predictor(max_tokens="100")
    with pytest.raises(TypeError, match="max_tokens"):
        ss_predict.Predictor(max_tokens=2.5)
    with pytest.raises(ValueError, match="max_tokens"):
        ss_predict.Predictor(max_tokens=0)


def test_non_finite_probabilities_are_never_written():
    pred = ss_predict.Predictor()
    with torch.no_grad():
        next(pred.models[0].parameters()).fill_(float("nan"))
    with pytest.raises(ss_predict.UserError, match="non-finite"):
        pred.predict(["MKVLAAGIVGLLLAAHSEEV"])
