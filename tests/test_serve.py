"""ss-serve: the JSON API in-process (same answers as ss-predict, every limit, one-line errors), requests
coalesced by the model thread, startup errors and SIGTERM drain on a real server process, and the page
in a real headless Chromium."""
import contextlib
import copy
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="ss-serve needs the serve extra (fastapi)")
pytest.importorskip("httpx", reason="the API tests need httpx (Starlette's TestClient)")
pytest.importorskip("uvicorn", reason="ss-serve needs the serve extra (uvicorn)")

import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import ss_predict  # noqa: E402
from conftest import one_line_error  # noqa: E402
from ss_predict.cli import predict_main  # noqa: E402
from ss_predict.errors import OutOfMemory, UserError  # noqa: E402
from ss_predict.prediction.renderers import render  # noqa: E402
from ss_predict.serve import app as app_module  # noqa: E402
from ss_predict.serve.app import create_app  # noqa: E402
from ss_predict.serve import cli as serve_cli  # noqa: E402
from ss_predict.serve.cli import parse_args as serve_args  # noqa: E402
from ss_predict.serve.limits import Limits  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "example.fasta"
UBIQUITIN = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
SS_SERVE = [sys.executable, "-c", "import sys; from ss_predict.serve.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def predictor():
    return ss_predict.Predictor(model="default", device="cpu")


@pytest.fixture(scope="module")
def cb513(data_root):
    """(id, sequence) of the first CB513 chains (real sequences, 20 to 700 residues)."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser
    with open(data_root / "ps4_netsurfp_cb513_ts115" / "CB513.fasta") as f:
        return [(t.split()[0], s) for t, s in SimpleFastaParser(f)][:40]


@contextlib.contextmanager
def serving(predictor, **limits):
    with TestClient(create_app(predictor, Limits(**limits)), raise_server_exceptions=False) as client:
        yield client


class Gated:
    """The real predictor, whose model thread waits at a gate before each run (to line requests up)."""

    def __init__(self, predictor):
        self.inner, self.gate, self.entered = predictor, threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict_proteins(self, proteins, **kw):
        self.entered.set()
        assert self.gate.wait(60)
        return self.inner.predict_proteins(proteins, **kw)


class OutOfMemoryPredictor(Gated):
    """The real predictor, out of memory in its model thread."""

    def predict_proteins(self, proteins, **kw):
        raise OutOfMemory(f"out of memory on cpu predicting record '{proteins[0].id}' (20 residues) alone (20 "
                          "residues at once): free memory or use a device with more")


def test_out_of_memory_is_a_503_not_the_clients_fault(predictor):
    with serving(OutOfMemoryPredictor(predictor)) as c:
        r = c.post("/api/predict", content=">trp\nNLYIQWLKDGGPSSGRPPPS\n")
    assert r.status_code == 503
    assert r.json()["error"] == ("out of memory on cpu predicting record 'trp' (20 residues) alone (20 residues at "
                                 "once) on the server: try again later, or send fewer or shorter chains")


def cli_output(path, fmt="json", file=None):
    """What `ss-predict PATH -f FMT` writes to standard output (or to `file`: -o FILE)."""
    if file is not None:
        predict_main([str(path), "-f", fmt, "--device", "cpu", "-o", str(file)])
        return file.read_text()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        predict_main([str(path), "-f", fmt, "--device", "cpu"])
    return out.getvalue()


def cli_error(path, capsys):
    with pytest.raises(SystemExit) as e:
        predict_main([str(path), "--device", "cpu"])
    assert e.value.code == 2
    return capsys.readouterr().err.strip().removeprefix("error: ")


def fasta(pairs):
    return "".join(f">{i}\n{s}\n" for i, s in pairs)


def hide_matplotlib(monkeypatch):
    """As if matplotlib were not installed: every matplotlib module None in sys.modules (imports fail)."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)


def has_matplotlib():
    import importlib.util
    return importlib.util.find_spec("matplotlib") is not None


def wait_for(cond, what, timeout=30.0):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, f"timed out waiting for {what}"
        time.sleep(0.01)


# ---------------------------------------------------------------- the API, in-process

def test_every_input_form_and_format_gives_what_ss_predict_writes(predictor, tmp_path):
    text = EXAMPLE.read_text()
    with serving(predictor) as c:
        r = c.post("/api/predict", content=text, headers={"Content-Type": "text/plain"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        records = r.json()
        assert records == json.loads(cli_output(EXAMPLE))  # the same batch as the CLI's: the same numbers
        pairs = [(rec["id"], rec["sequence"]) for rec in records]
        as_map = c.post("/api/predict", json={"sequences": dict(pairs)}).json()
        as_list = c.post("/api/predict", json={"sequences": [{"id": i, "sequence": s} for i, s in pairs]}).json()
        assert as_map == as_list == records
        for fmt in ("ss2", "horiz", "fasta"):
            r = c.post(f"/api/predict?format={fmt}", content=text)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            assert r.text == cli_output(EXAMPLE, fmt), fmt


def test_health_openapi_and_page(predictor):
    with serving(predictor, max_queue=7) as c:
        h = c.get("/api/health").json()
        assert h["status"] == "ok" and h["model"] == "default" and h["version"] == ss_predict.__version__
        assert h["queue_depth"] == 0 and h["limits"]["max_queue"] == 7 and h["device"] == "cpu"
        c.post("/api/predict", json={"sequences": {"u": UBIQUITIN}})
        assert c.get("/api/health").json()["served"] == {"accepted": 1, "requests": 1, "runs": 1,
                                                         "residues": len(UBIQUITIN)}
        schema = c.get("/openapi.json").json()
        body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
        assert {"application/json", "text/plain"} <= set(body)
        responses = schema["paths"]["/api/predict"]["post"]["responses"]
        assert {"200", "400", "408", "413", "415", "422", "503", "504"} <= set(responses)
        assert "/api/health" in schema["paths"] and c.get("/docs").status_code == 200
        page = c.get("/")
        assert page.status_code == 200 and "<textarea" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        # nothing on the page loads from elsewhere: no absolute URLs in src/href attributes or fetches
        assert not re.search(r"""(src|href)=["']?(https?:)?//|fetch\(["']https?:""", page.text)
        from ss_predict.prediction.pictures import COLOURS  # the page's colours are the cartoon's
        assert {k.upper(): v for k, v in re.findall(r"--([hec]): (#[0-9a-f]{6})", page.text)} == COLOURS
        placeholder = re.search(r'placeholder="([^"]*)"', page.text).group(1)
        assert not re.search(r"[A-Z]{12}", placeholder)  # a hint, not something that looks like a sequence


def test_bad_input_is_a_one_line_json_error_as_the_cli_says_it(predictor, tmp_path, capsys):
    bad = tmp_path / "bad.fasta"
    bad.write_text(f">ok\n{UBIQUITIN}\n>broken\nMKVL1AG\n")
    said = cli_error(bad, capsys).replace(str(bad), "sequences")  # the CLI's line, before the server runs
    with serving(predictor) as c:
        r = c.post("/api/predict", content=bad.read_text())
        assert r.status_code == 422
        assert r.json() == {"error": said}
        assert "record 'broken' position 5" in r.json()["error"]
        cases = {  # body, content type -> status, words of the message
            ("", "text/plain"): (422, "empty request body"),
            (UBIQUITIN, "text/plain"): (422, "line 1 does not start with '>'"),
            (b"\xff\xfe>a\nMKV", "text/plain"): (422, "not UTF-8"),
            (">a\nMKV\n>a\nMKV\n", "text/plain"): (422, "duplicate id 'a'"),
            ('{"sequences": {"a": "MK', "application/json"): (400, "not JSON"),
            ("[" * 100_000 + "]" * 100_000, "application/json"): (400, "JSON nested too deeply"),
            ('{"sequences": {"a": ' + "7" * 5000 + "}}", "application/json"): (400, "number of too many digits"),
            ('{"seqs": []}', "application/json"): (422, '{"sequences"'),
            ('{"sequences": [{"id": "a"}]}', "application/json"): (422, "item 1"),
            ('{"sequences": {"a": 5}}', "application/json"): (422, "record 'a'"),
            ('{"sequences": {}}', "application/json"): (422, "no sequences given"),
            (">a\nMKV\n", "multipart/form-data; boundary=x"): (415, "form upload"),
        }
        for (body, ctype), (status, words) in cases.items():
            r = c.post("/api/predict", content=body, headers={"Content-Type": ctype})
            assert (r.status_code, r.headers["content-type"]) == (status, "application/json"), body[:60]
            assert words in r.json()["error"] and "\n" not in r.json()["error"], body[:60]
        r = c.post("/api/predict?format=xml", content=">a\nMKV\n")
        assert r.status_code == 422 and "format" in r.json()["error"]
        assert c.get("/nowhere").json() == {"error": "Not Found"}
        assert c.get("/api/predict").status_code == 405


def test_a_nul_in_fasta_text_is_binary_data_as_ss_predict_says(predictor, tmp_path, capsys):
    bad = tmp_path / "nul.fasta"
    bad.write_text(f">ok\n{UBIQUITIN}\r\n>a\x00\nMKVLA\n")
    said = cli_error(bad, capsys).replace(str(bad), "sequences")
    assert said == "sequences: line 3: binary data, not a text file"
    with serving(predictor) as c:
        r = c.post("/api/predict", content=bad.read_bytes(), headers={"Content-Type": "text/plain"})
    assert (r.status_code, r.json()) == (422, {"error": said})


def test_svg_format_is_the_pictures_cartoon_or_a_clear_400(predictor):
    with serving(predictor) as c:
        r = c.post("/api/predict?format=svg", content=f">u\n{UBIQUITIN}\n")
        two = c.post("/api/predict?format=svg", content=f">u\n{UBIQUITIN}\n>t\nNLYIQWLKDGGPSSGRPPPS\n")
    if not has_matplotlib():
        assert r.status_code == 400 and 'pip install "ss-predict[plot]"' in r.json()["error"]
    else:
        assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml" and "<svg" in r.text
        assert two.status_code == 200 and two.text.count("<svg") == 1  # several records: one stacked picture
        assert 'id="r1-helix1"' in two.text and 'id="r2-' in two.text


def test_svg_without_matplotlib_is_a_400_before_predicting(predictor, monkeypatch):
    hide_matplotlib(monkeypatch)
    with serving(predictor) as c:
        r = c.post("/api/predict?format=svg", content=f">u\n{UBIQUITIN}\n")
        assert r.status_code == 400, r.text
        assert r.json()["error"] == ('format svg needs matplotlib, which this server lacks (its operator can pip '
                                     'install "ss-predict[plot]"); use format=json, ss2 or horiz')
        assert c.app.state.batcher.requests == 0  # refused before the model ran
        assert c.post("/api/predict?format=ss2", content=f">u\n{UBIQUITIN}\n").status_code == 200


def test_svg_of_a_chain_too_long_to_draw_is_refused_before_predicting(predictor, monkeypatch):
    pytest.importorskip("matplotlib", reason="drawing needs matplotlib")
    from ss_predict.prediction import pictures
    monkeypatch.setattr(pictures, "MAX_RESIDUES", 100)  # as a 100,001-residue chain with --max-residues raised
    with serving(predictor) as c:
        r = c.post("/api/predict?format=svg", content=f">long\n{UBIQUITIN * 2}\n")
        assert r.status_code == 413
        assert r.json() == {"error": "record 'long': 152 residues; pictures are drawn for chains of up to 100 "
                                     "(use format=json, ss2 or horiz)"}
        assert c.app.state.batcher.requests == 0

        def refuse(preds, fmt):
            raise UserError("cannot draw this")
        monkeypatch.setattr(app_module, "render_picture", refuse)  # any user error, found late: 422, not 500
        r = c.post("/api/predict?format=svg", content=f">u\n{UBIQUITIN}\n")
        assert (r.status_code, r.json()) == (422, {"error": "cannot draw this"})


def test_svg_residues_are_capped_and_drawn_within_the_deadline(predictor, monkeypatch):
    pytest.importorskip("matplotlib", reason="drawing needs matplotlib")
    two = {"sequences": {"a": UBIQUITIN, "b": UBIQUITIN}}
    with serving(predictor, max_svg_residues=100) as c:
        r = c.post("/api/predict?format=svg", json=two)
        assert r.status_code == 413 and r.json()["error"] == (
            "152 residues in this request; format svg draws at most 100 per request: send fewer, or use "
            "format=json, ss2 or horiz")
        assert c.app.state.batcher.requests == 0
        assert c.post("/api/predict?format=ss2", json=two).status_code == 200  # other formats: max_residues
        assert c.get("/api/health").json()["limits"]["max_svg_residues"] == 100
    assert Limits().max_svg_residues == 20_000
    gate = threading.Event()

    def slow(preds, fmt):  # a picture that takes longer than the request may
        gate.wait(60)
        return "<svg/>"
    monkeypatch.setattr(app_module, "render_picture", slow)
    try:
        with serving(predictor, timeout=3) as c:
            t0 = time.monotonic()
            r = c.post("/api/predict?format=svg", json=two)
            assert r.status_code == 504 and r.json()["error"].startswith("no picture within 3 s"), r.text
            assert time.monotonic() - t0 < 10
    finally:
        gate.set()


def test_several_formats_come_from_one_prediction(predictor, tmp_path):
    """Each part of a several-format answer is, byte for byte, what that format alone answers and what
    ss-predict writes for the same file: the first request on a fresh model thread included (torch's thread
    count is per thread: unset there, the first run differed in the last bits, svg coordinates showed it)."""
    text = EXAMPLE.read_text()
    formats = ["json", "ss2", "horiz"] + (["svg"] if has_matplotlib() else [])
    with serving(predictor) as c:
        r = c.post("/api/predict?" + "&".join(f"format={f}" for f in formats + ["ss2"]), content=text)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        got = r.json()
        assert list(got) == formats  # in the order asked, each once
        assert c.app.state.batcher.requests == 1
        for fmt in formats:  # each the text that format alone answers, and ss-predict's
            alone = c.post(f"/api/predict?format={fmt}", content=text).text
            assert got[fmt] == alone == cli_output(EXAMPLE, fmt, tmp_path / f"out.{fmt}"), fmt


@pytest.fixture(scope="module")
def multi_task_ckpt(tmp_path_factory):
    from conftest import MULTI_TASK, tiny_checkpoint
    return tiny_checkpoint(tmp_path_factory.mktemp("mt") / "mt.pt", tasks=MULTI_TASK)


def test_netsurfp_from_an_ss_only_model_is_a_one_line_400_before_predicting(predictor):
    from ss_predict.prediction.renderers import format_problem
    with serving(predictor) as c:
        offered = {f["name"]: f for f in c.get("/api/formats").json()}
        assert offered["netsurfp"]["available"] is False and offered["netsurfp"]["needs"] == ["rsa", "angles",
                                                                                              "disorder"]
        assert offered["json"]["available"] is True and offered["json"]["needs"] == []
        assert c.get("/api/health").json()["tasks"] == ["ss8"]
        for query in ("format=netsurfp", "format=json&format=netsurfp"):
            r = c.post(f"/api/predict?{query}", content=f">u\n{UBIQUITIN}\n")
            assert (r.status_code, r.headers["content-type"]) == (400, "application/json"), r.text
            assert r.json() == {"error": format_problem("netsurfp", ("ss8",))} and "\n" not in r.json()["error"]
            assert "needs a model that predicts rsa, angles, disorder" in r.json()["error"]
        assert c.app.state.batcher.requests == 0  # refused before the model ran


def test_a_multi_task_model_answers_its_values_and_the_netsurfp_format(multi_task_ckpt):
    from ss_predict.prediction.renderers import NETSURFP_HEADER
    multi = ss_predict.Predictor(model=str(multi_task_ckpt), device="cpu")
    with serving(multi) as c:
        assert c.get("/api/health").json()["tasks"] == ["ss8", "rsa", "angles", "disorder"]
        assert all(f["available"] for f in c.get("/api/formats").json())
        rec = c.post("/api/predict", content=f">u\n{UBIQUITIN}\n").json()[0]
        for key in ("rsa", "asa", "phi", "psi", "disorder"):
            assert len(rec[key]) == len(UBIQUITIN) and all(isinstance(v, float) for v in rec[key]), key
        assert all(0 <= v <= 1 for v in rec["rsa"] + rec["disorder"])
        assert all(-180 <= v <= 180 for v in rec["phi"] + rec["psi"])
        r = c.post("/api/predict?format=netsurfp", content=f">u\n{UBIQUITIN}\n>t\nNLYIQWLKDGGPSSGRPPPS\n")
        assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
        lines = r.text.splitlines()
        assert lines[0] + "\n" == NETSURFP_HEADER and len(lines) == 1 + len(UBIQUITIN) + 20
        assert lines[1].startswith(">u,M,1,") and lines[-1].startswith(">t,S,20,")
        both = c.post("/api/predict?format=json&format=netsurfp", content=f">u\n{UBIQUITIN}\n").json()
        assert json.loads(both["json"])[0]["rsa"] == rec["rsa"] and both["netsurfp"].startswith(NETSURFP_HEADER)


def test_dna_is_refused_without_advice_about_options_the_server_lacks(predictor, tmp_path, capsys):
    dna = tmp_path / "dna.fasta"
    dna.write_text(">gene\n" + "ACGTTGCA" * 5 + "\n")
    said = cli_error(dna, capsys).replace(str(dna), "sequences")
    assert "--allow-nucleotide" in said  # the CLI's advice is its own option
    with serving(predictor) as c:
        r = c.post("/api/predict", content=dna.read_text())
    assert r.status_code == 422
    assert r.json()["error"] == ("sequences: record 'gene' looks like a nucleotide sequence (100% A/C/G/T/U/N); "
                                 "give protein sequences (this server predicts proteins only)")
    assert said.startswith(r.json()["error"].removesuffix(" (this server predicts proteins only)"))


def test_an_id_that_is_not_unicode_text_is_a_422_naming_it_in_any_format(predictor):
    """JSON can send a lone surrogate ("\\ud800x"): formats that write the id as UTF-8 refuse it (422, the
    record named with the surrogate escaped); json escapes it, ss2 and horiz of one record do not print it."""
    body = '{"sequences": {"\\ud800x": "%s"}}' % UBIQUITIN
    two = '{"sequences": {"ok": "%s", "\\ud800x": "%s"}}' % (UBIQUITIN, UBIQUITIN)
    said = ("sequences: record '\\ud800x': the id is not Unicode text (character 1 is a lone surrogate), which "
            "format {} cannot write; fix the id, or use format=json")
    asks = [("fasta", body), ("ss2", two), ("horiz", two), ("json&format=fasta", body)]
    if has_matplotlib():
        asks.append(("svg", body))
    with serving(predictor) as c:
        for fmt, content in asks:
            r = c.post(f"/api/predict?format={fmt}", content=content)
            assert (r.status_code, r.json()) == (422, {"error": said.format(fmt.split("=")[-1])}), fmt
        for fmt in ("json", "ss2", "horiz"):
            assert c.post(f"/api/predict?format={fmt}", content=body).status_code == 200, fmt
        assert c.post("/api/predict", content=body).json()[0]["id"] == "\ud800x"


def test_json_sent_without_a_json_content_type_is_read_as_json(predictor):
    doc = json.dumps({"sequences": {"u": UBIQUITIN}})
    with serving(predictor) as c:
        want = c.post("/api/predict", json={"sequences": {"u": UBIQUITIN}}).json()
        for ctype in ("application/x-www-form-urlencoded", "text/plain"):  # curl -d; a plain text body
            r = c.post("/api/predict", content=f"\n  {doc}", headers={"Content-Type": ctype})
            assert r.status_code == 200 and r.json() == want, (ctype, r.text)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        r = c.post("/api/predict", content='{"sequences": {"u": "MK', headers=form)
        assert r.status_code == 400 and "not JSON" in r.json()["error"]
        r = c.post("/api/predict", content=f'[{{"id": "u", "sequence": "{UBIQUITIN}"}}]', headers=form)
        assert r.status_code == 422 and '{"sequences"' in r.json()["error"]


def test_an_internal_failure_is_a_plain_500_without_a_trace(predictor):
    broken = copy.copy(predictor)
    broken.models = []  # a model list lost: the prediction itself fails (ZeroDivisionError deep inside)
    with serving(broken) as c:
        r = c.post("/api/predict", content=f">u\n{UBIQUITIN}\n")
        assert r.status_code == 500
        assert r.json() == {"error": "internal server error; the server's log has the details"}
        assert c.get("/api/health").json()["status"] == "ok"  # the model thread lives on


def test_body_and_residue_limits_are_413(predictor):
    with serving(predictor, max_residues=100, max_body=1000) as c:
        ok = c.post("/api/predict", json={"sequences": {"a": UBIQUITIN}})
        assert ok.status_code == 200
        r = c.post("/api/predict", json={"sequences": {"a": UBIQUITIN, "b": UBIQUITIN}})
        assert r.status_code == 413 and "152 residues" in r.json()["error"] and "at most 100" in r.json()["error"]
        big = f">a\n{'A' * 60}\n" * 20
        r = c.post("/api/predict", content=big)  # declared length
        assert r.status_code == 413 and "over 1,000 bytes" in r.json()["error"]
        r = c.post("/api/predict", content=(line.encode() for line in big.splitlines(True)))  # streamed
        assert r.status_code == 413 and "over 1,000 bytes" in r.json()["error"]


def test_full_queue_is_503_with_retry_after_and_a_late_answer_504(predictor):
    gated = Gated(predictor)
    with serving(gated, max_queue=2, timeout=3) as c:
        batcher = c.app.state.batcher
        results = []

        def ask(i):
            results.append(c.post("/api/predict", content=f">r{i}\n{UBIQUITIN}\n"))

        first = threading.Thread(target=ask, args=(0,))
        first.start()
        assert gated.entered.wait(30)  # the model thread holds the first request
        waiting = [threading.Thread(target=ask, args=(i,)) for i in (1, 2)]
        for t in waiting:
            t.start()
        wait_for(lambda: batcher.depth == 2, "two queued requests")
        r = c.post("/api/predict", content=f">late\n{UBIQUITIN}\n")
        assert r.status_code == 503 and "2 requests are waiting" in r.json()["error"]
        assert 1 <= int(r.headers["retry-after"]) <= 60
        for t in (first, *waiting):
            t.join()  # the gate stays shut: every one of them runs out of time
        assert [x.status_code for x in results] == [504, 504, 504]
        assert "no prediction within 3 s" in results[0].json()["error"]
        gated.gate.set()  # the queued ones were cancelled: the worker skips them
        wait_for(lambda: batcher.depth == 0, "the queue to empty")
        assert c.post("/api/predict", content=f">u\n{UBIQUITIN}\n").status_code == 200
        assert batcher.requests == 2  # the first (started before it timed out) and the last; not the cancelled


def test_concurrent_requests_are_answered_as_if_each_were_alone(predictor, cb513):
    """12 clients, one sequence each, all with the same id, 11 of them queued while the model thread holds
    the first: each answer is byte for byte what that request gets alone (never batched with another
    request: a batch of 2 differs from a batch of 1 in the last bits, which 4-decimal JSON shows)."""
    chains = cb513[:12]
    alone = [render(predictor.predict_proteins(predictor.read([("query", s)])), "json") for _, s in chains]
    gated = Gated(predictor)
    got = [None] * len(chains)
    with serving(gated) as c:
        batcher = c.app.state.batcher

        def ask(i):
            got[i] = c.post("/api/predict", content=f">query\n{chains[i][1]}\n")

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(chains))]
        threads[0].start()
        assert gated.entered.wait(30)  # the model thread holds the first request; the others line up
        for t in threads[1:]:
            t.start()
        wait_for(lambda: batcher.depth == len(chains) - 1, "11 queued requests")
        gated.gate.set()
        for t in threads:
            t.join()
    assert [r.status_code for r in got] == [200] * 12
    assert [r.text for r in got] == alone
    assert (batcher.requests, batcher.runs) == (12, 12)  # one model run per request


# ---------------------------------------------------------------- a real server process

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server_process(*args):
    """ss-serve on a free loopback port; yields (process, base URL) once it answers."""
    proc = subprocess.Popen([*SS_SERVE, "--port", "0", "--device", "cpu", "--threads", "1", "--no-access-log", *args],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = ""
        while "http://" not in line:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "ss-serve ended before it served"
        url = re.search(r"http://[^/]+", line).group(0)
        wait_for(lambda: _answers(url), "the server to answer", timeout=60)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _answers(url) -> bool:
    try:
        return httpx.get(f"{url}/api/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def live(predictor, **limits):
    """The app in the uvicorn server ss-serve runs, on a free loopback port, in a thread; yields (host, port)."""
    lim = Limits(**limits)
    srv = serve_cli.server(create_app(predictor, lim), lim, access_log=False)
    sock = serve_cli.listen("127.0.0.1", 0)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: srv.started, "the server to start")
        yield sock.getsockname()[:2]
    finally:
        srv.should_exit = True
        thread.join(30)
        sock.close()


def test_an_oversized_body_is_a_413_that_plain_clients_read(predictor):
    """urllib and http.client send the whole body before they read: the server reads (and drops) it, then
    answers 413, rather than closing on them (a reset connection, never the answer)."""
    big = (">a\n" + "A" * 60 + "\n").encode() * 320_000  # 20 MB: more than the sockets buffer
    with live(predictor, max_body=1000) as (host, port):
        url = f"http://{host}:{port}/api/predict"
        with pytest.raises(urllib.error.HTTPError) as e:  # Content-Length declared
            urllib.request.urlopen(urllib.request.Request(url, data=big, headers={"Content-Type": "text/plain"}),
                                   timeout=60)
        assert e.value.code == 413
        assert json.loads(e.value.read()) == {"error": "the request body is over 1,000 bytes, the most this server "
                                                       "takes; send fewer sequences"}
        conn = http.client.HTTPConnection(host, port, timeout=60)  # chunked: no length declared
        conn.request("POST", "/api/predict", body=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]),
                     encode_chunked=True)
        r = conn.getresponse()
        assert r.status == 413 and b"over 1,000 bytes" in r.read()
        conn.close()
        ok = urllib.request.urlopen(urllib.request.Request(url, data=f">u\n{UBIQUITIN}\n".encode()), timeout=60)
        assert ok.status == 200 and json.loads(ok.read())[0]["id"] == "u"


def raw_exchange(addr, data: bytes, timeout=20.0) -> bytes:
    """Send `data` on a fresh connection, then read until the server closes it (bounded by `timeout`)."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


def test_malformed_http_is_the_json_error_and_head_is_200(predictor):
    head = b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\n"
    cases = {
        "negative length": head + b"Content-Length: -5\r\n\r\n",
        "two lengths": head + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n>a\n",
        "bad chunk size": head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n>a\n\r\n0\r\n\r\n",
        "200 kB header": head + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    }
    with live(predictor) as addr:
        for what, data in cases.items():
            status, _, rest = raw_exchange(addr, data).partition(b"\r\n")
            headers, _, body = rest.partition(b"\r\n\r\n")
            assert status == b"HTTP/1.1 400 Bad Request", what
            assert b"content-type: application/json" in headers.lower(), what
            assert json.loads(body)["error"].startswith("the request is not valid HTTP/1.1"), what
        conn = http.client.HTTPConnection(*addr, timeout=20)
        conn.request("HEAD", "/")
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("content-type").startswith("text/html") and r.read() == b""
        conn.close()


def test_clients_that_never_finish_a_request_are_disconnected_after_the_timeout(predictor):
    """Slow clients cannot hold the server: a connection whose request headers (or unasked-for body) have
    not arrived within --timeout of connecting, or of its last answer, is closed."""
    with live(predictor, timeout=2) as addr:
        socks = [socket.create_connection(addr, timeout=15) for _ in range(20)]
        try:
            for i, s in enumerate(socks):
                s.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n" if i % 2 else b"POS")
            keep = socks[0]  # one that finished a request first, then never finishes the next
            keep.sendall(b"T /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n>u\nMQIFVKTLTGKTI\n")
            assert keep.recv(65536).startswith(b"HTTP/1.1 200 OK")
            keep.sendall(b"GET / HTTP/1.1\r\n")
            t0 = time.monotonic()
            for s in socks:  # each closed by the server: recv answers b"" (else it times out after 15 s)
                while s.recv(65536):
                    pass
            assert time.monotonic() - t0 < 14
        finally:
            for s in socks:
                s.close()
        with socket.create_connection(addr, timeout=15) as s:  # a client that sends a body nobody asked for
            s.sendall(b"POST /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
            assert s.recv(65536).startswith(b"HTTP/1.1 405")
            s.sendall(b"cd")
            while s.recv(65536):
                pass
        assert httpx.get(f"http://{addr[0]}:{addr[1]}/api/health", timeout=10).status_code == 200


def run_ss_serve(*args):
    return subprocess.run([*SS_SERVE, *args], capture_output=True, text=True, timeout=120)


def test_startup_errors_are_one_line_exit_2():
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_ss_serve("--host", "0.0.0.0", "--port", str(port))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 2, r.stderr
    assert "warning: listening on all interfaces (0.0.0.0)" in lines[0] and "no authentication" in lines[0]
    assert lines[1] == f"error: port {port} on 0.0.0.0 is in use (another server?): choose another --port"
    for args, words in [(["--port", "0", "-m", "no_such_model"], "no bundled model 'no_such_model'"),
                        (["--port", "0", "--host", "no.such.host.invalid"], "--host no.such.host.invalid")]:
        r = run_ss_serve(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args, words", [
    (["--threads", "100000"], "at most 1024"),
    (["--port", "²"], "'²' is not a port number"),  # str.isdigit() is true, int() fails
    (["--port", "70000"], "'70000' is not a port number"),
    (["--max-residues", "0"], "--max-residues: must be at least 1"),
    (["--max-svg-residues", "0"], "--max-svg-residues: must be at least 1"),
    (["--max-queue", "lots"], "'lots' is not a whole number"),
])
def test_options_are_checked_before_start_up(capsys, args, words):
    assert serve_args(["--max-svg-residues", "500"]).max_svg_residues == 500
    with pytest.raises(SystemExit) as e:
        serve_args(args)
    assert e.value.code == 2 and words in one_line_error(capsys.readouterr().err)


def test_sigterm_finishes_the_requests_in_flight_and_exits_0(cb513):
    batches = [cb513[i:i + 10] for i in range(0, 40, 10)]  # 4 requests of 10 chains (~1,700 residues each)
    with server_process() as (proc, url):
        answers = [None] * len(batches)

        def ask(i):
            answers[i] = httpx.post(f"{url}/api/predict", content=fasta(batches[i]), timeout=120)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(batches))]
        for t in threads:
            t.start()
        wait_for(lambda: httpx.get(f"{url}/api/health").json()["served"]["accepted"] == len(batches),
                 "every request accepted (queued or running: not yet answered)")
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join()
        assert proc.wait(timeout=60) == 0
        log = proc.stderr.read()
    assert [a.status_code for a in answers] == [200] * len(batches), [a.text for a in answers]
    assert [[r["id"] for r in a.json()] for a in answers] == [[i for i, _ in b] for b in batches]
    assert "Shutting down" in log and "Traceback" not in log
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/api/health", timeout=2)


# ---------------------------------------------------------------- the page in a real browser

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def chrome(tmp_path):
    """A headless Chromium driven by selenium (the caller quits it)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1100,900",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason="the browser test needs Debian's chromium and chromium-driver (apt-get install chromium "
                           "chromium-driver)")
def test_the_page_in_headless_chromium(tmp_path):
    pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    with server_process() as (proc, url):
        want = httpx.post(f"{url}/api/predict", content=f">query\n{UBIQUITIN}\n").json()[0]
        driver = chrome(tmp_path)
        try:
            driver.get(f"{url}/")
            wait = WebDriverWait(driver, 60)
            wait.until(lambda d: "model default" in d.find_element(By.ID, "about").text)
            driver.find_element(By.ID, "sequences").send_keys(UBIQUITIN)  # a plain sequence: named 'query'
            driver.find_element(By.ID, "submit").click()
            record = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".record")))
            assert record.find_element(By.TAG_NAME, "h2").text == "query"
            shown = "".join(e.text for e in record.find_elements(By.CSS_SELECTOR, ".ss"))
            assert shown == want["ss3"]
            assert "76 residues" in record.find_element(By.CLASS_NAME, "meta").text
            for fmt in ("ss2", "horiz", "json") + (("svg",) if has_matplotlib() else ()):
                a = driver.find_element(By.ID, f"dl-{fmt}")
                assert a.get_attribute("href").startswith("blob:") and a.get_attribute("download") == f"query.{fmt}"
            assert not driver.find_elements(By.ID, "dl-netsurfp")  # not offered: this model lacks its tasks
            assert not driver.find_elements(By.CSS_SELECTOR, "details.values")  # no values beside structure
            # one request, one prediction for the page (the other was this test's own)
            assert httpx.get(f"{url}/api/health").json()["served"]["requests"] == 2
            if has_matplotlib():
                assert record.find_element(By.CSS_SELECTOR, ".cartoon svg").is_displayed()
            driver.save_screenshot(str(tmp_path / "page.png"))
            driver.set_window_size(420, 900)  # a phone: nothing wider than the window, no sideways scrolling
            wide = driver.execute_script("const d = document.documentElement; return [d.scrollWidth, d.clientWidth]")
            assert wide[0] <= wide[1], wide
            driver.set_window_size(1100, 900)
            box = driver.find_element(By.ID, "sequences")
            box.clear()
            box.send_keys(">bad\nMKV1L")
            driver.find_element(By.ID, "submit").click()
            err = wait.until(EC.visibility_of_element_located((By.ID, "error")))
            assert err.text == "sequences: record 'bad' position 4: '1' is not an amino-acid letter"
            assert not driver.find_element(By.ID, "results").is_displayed()  # no stale results beside it
            driver.save_screenshot(str(tmp_path / "error.png"))
            logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "422" not in e["message"]]
            assert not logs, logs
        finally:
            driver.quit()
    assert (tmp_path / "page.png").stat().st_size > 10_000


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason="the browser test needs Debian's chromium and chromium-driver (apt-get install chromium "
                           "chromium-driver)")
def test_the_page_shows_a_multi_task_models_values(tmp_path, multi_task_ckpt):
    pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    with server_process("--model", str(multi_task_ckpt)) as (proc, url):
        want = httpx.post(f"{url}/api/predict", content=f">query\n{UBIQUITIN}\n").json()[0]
        driver = chrome(tmp_path)
        try:
            driver.get(f"{url}/")
            wait = WebDriverWait(driver, 60)
            wait.until(lambda d: "model mt.pt" in d.find_element(By.ID, "about").text)
            driver.find_element(By.ID, "sequences").send_keys(UBIQUITIN)
            driver.find_element(By.ID, "submit").click()
            record = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".record")))
            exposed = round(100 * sum(v >= 0.25 for v in want["rsa"]) / len(UBIQUITIN))
            assert f"exposed {exposed}%" in record.find_element(By.CLASS_NAME, "meta").text
            # NetSurfP's own extension
            assert driver.find_element(By.ID, "dl-netsurfp").get_attribute("download") == "query.csv"
            if has_matplotlib():  # the cartoon with its accessibility and disorder tracks
                assert record.find_elements(By.CSS_SELECTOR, ".cartoon svg g[id='row1-rsa-line']")
            record.find_element(By.CSS_SELECTOR, "details.values summary").click()
            rows = wait.until(lambda d: record.find_elements(By.CSS_SELECTOR, "details.values tr"))
            head = [th.text for th in rows[0].find_elements(By.TAG_NAME, "th")]
            assert head == ["#", "residue", "SS8", "SS3", "RSA", "ASA (\u00c5\u00b2)", "phi (\u00b0)", "psi (\u00b0)",
                            "disorder"]
            assert len(rows) == 1 + len(UBIQUITIN)
            first = [td.text for td in rows[1].find_elements(By.TAG_NAME, "td")]
            assert first[:4] == ["1", "M", want["ss8"][0], want["ss3"][0]]
            for text, (k, d) in zip(first[4:], (("rsa", 3), ("asa", 1), ("phi", 1), ("psi", 1), ("disorder", 3))):
                assert len(text.split(".")[1]) == d and abs(float(text) - want[k][0]) <= 0.51 * 10 ** -d, (k, text)
            driver.save_screenshot(str(tmp_path / "page.png"))
            assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        finally:
            driver.quit()
