"""Cartoons of predictions (pictures.py): valid SVG/PNG, one glyph per segment, wrapping, long chains, CLI."""
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="pictures need matplotlib (the plot extra)")

from ss_predict.prediction import pictures  # noqa: E402
from ss_predict.core.alphabet import SS8  # noqa: E402
from ss_predict.api import Predictor  # noqa: E402
from ss_predict.errors import UserError  # noqa: E402
from ss_predict.inference.calibration import to_ss3  # noqa: E402
from ss_predict.prediction.result import Prediction  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "example.fasta"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def example_preds():
    return Predictor("default", "cpu").predict(str(EXAMPLE))


def from_ss8(ss8: str, seed: int = 0) -> Prediction:
    """A prediction whose 8-state argmax is `ss8` (probabilities 0.55-0.95 on the chosen state)."""
    rng = np.random.default_rng(seed)
    p8 = rng.uniform(0, 1, (len(ss8), 8)).astype(np.float32)
    top = rng.uniform(0.55, 0.95, len(ss8))
    p8 = p8 / p8.sum(1, keepdims=True) * (1 - top)[:, None]
    p8[np.arange(len(ss8)), [SS8.index(c) for c in ss8]] += top
    seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), len(ss8)))
    return Prediction("made_up", seq, p8, to_ss3(p8))


def ids(svg_text: str) -> list[str]:
    return [el.get("id") for el in ET.fromstring(svg_text).iter() if el.get("id")]


def glyphs(svg_text: str, kind: str) -> list[str]:
    return [i for i in ids(svg_text) if re.fullmatch(rf"(r\d+-)?{kind}\d+(-cont\d+)?", i)]


def test_svg_has_one_glyph_per_segment_of_the_prediction(example_preds):
    ubq = example_preds[0]
    text = pictures.svg(ubq)
    root = ET.fromstring(text)
    assert root.tag == f"{SVG_NS}svg"
    for state, kind in (("H", "helix"), ("E", "strand"), ("C", "coil")):
        n = len(re.findall(f"{state}+", ubq.ss3))
        assert n > 0
        assert sorted(glyphs(text, kind)) == sorted(f"{kind}{k}" for k in range(1, n + 1))
    letters = "".join(el.text or "" for el in root.iter(f"{SVG_NS}text"))
    assert ubq.sequence in letters and ubq.ss8 in letters  # residue letters and 8-state string as text
    for k in range(10, len(ubq.sequence) + 1, 10):
        assert any((el.text or "").strip() == str(k) for el in root.iter(f"{SVG_NS}text"))


def test_segments_wrap_at_the_row_width():
    # a helix over residues 91-120 crosses the row boundary (100) and a strand ends the chain
    ss8 = "C" * 90 + "H" * 30 + "C" * 10 + "E" * 8 + "C" * 52 + "E" * 50
    pred = from_ss8(ss8)
    assert pred.ss3 == "".join("H" if c == "H" else "E" if c == "E" else "C" for c in ss8)
    text = pictures.svg(pred)
    assert glyphs(text, "helix") == ["helix1", "helix1-cont1"]
    assert sorted(glyphs(text, "strand")) == ["strand1", "strand2", "strand2-cont1"]  # 191-240 crosses 200
    assert sorted(glyphs(text, "coil")) == ["coil1", "coil2", "coil3"]  # 1-90, 121-130, 139-190


def test_png_is_a_png_of_the_figure_size(example_preds):
    data = pictures.png(example_preds[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    fig = example_preds[1].plot()
    w_in, h_in = fig.get_size_inches()
    assert abs(width - w_in * pictures.DPI) <= 1 and abs(height - h_in * pictures.DPI) <= 1
    assert height > width / 10  # two rows of 100 residues for lysozyme's 129


def test_several_records_stack_in_one_svg(example_preds):
    text = pictures.svg(example_preds)
    assert all(f"{p.id} \u00b7 {len(p.sequence)} residues" in text for p in example_preds)
    assert "r1-helix1" in ids(text) and "r2-helix1" in ids(text)


def test_a_long_chain_renders_compact_and_a_huge_one_is_refused():
    n = 12_345
    pred = from_ss8(("CCHHHHHHHHHHCCCEEEEECC" * 600)[:n], seed=1)
    text = pictures.svg(pred)
    rows = {i.split("-")[0] for i in ids(text) if re.fullmatch(r"row\d+-(helix|strand|coil)", i)}
    assert len(rows) == -(-n // pictures.COMPACT_ROW)
    assert not glyphs(text, "helix")  # compact: grouped per row, no element per glyph
    assert pred.sequence[:50] not in text  # no letters
    huge = Prediction("huge", "A" * (pictures.MAX_RESIDUES + 1), np.zeros((1, 8)), np.zeros((1, 3)))
    with pytest.raises(UserError, match="huge.*100,001 residues"):
        pictures.figure(huge)


def test_without_matplotlib_the_error_says_how_to_install_it(monkeypatch):
    pred = from_ss8("CCHHHHHHCCEEEECC")
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    with pytest.raises(UserError, match=r"pictures need matplotlib: pip install 'ss-predict\[plot\]'"):
        pictures.svg(pred)


def cli(*args):
    return subprocess.run([sys.executable, "-c", "from ss_predict.cli import predict_main; predict_main()", *args],
                          capture_output=True, text=True)


def test_cli_pictures(tmp_path):
    r = cli(str(EXAMPLE), "-f", "png", "-o", str(tmp_path / "all.png"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "-o DIR/" in r.stderr
    assert not (tmp_path / "all.png").exists()
    r = cli(str(EXAMPLE), "-f", "png", "-o", f"{tmp_path}/pics/")
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in (tmp_path / "pics").iterdir())
    assert files == ["lysozyme_chicken.png", "trp_cage.png", "ubiquitin_human.png"]
    assert all((tmp_path / "pics" / f).read_bytes()[:4] == b"\x89PNG" for f in files)
    r = cli(str(EXAMPLE), "-f", "svg", "-o", str(tmp_path / "all.svg"))
    assert r.returncode == 0, r.stderr
    assert len(glyphs((tmp_path / "all.svg").read_text(), "helix")) >= 3


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="headless Chromium (Debian package chromium) not installed")
def test_svg_opens_in_headless_chromium(example_preds, tmp_path):
    svg = tmp_path / "ubq.svg"
    svg.write_text(pictures.svg(example_preds[0]))
    shot = tmp_path / "shot.png"
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=900,250", svg.as_uri()], capture_output=True, timeout=120)
    from matplotlib.image import imread
    img = imread(shot)[..., :3]
    pink = np.all(np.abs(img - np.array([0xe8, 0x46, 0x7c]) / 255) < 0.08, axis=-1)
    assert pink.sum() > 500  # the helix cylinders are drawn (the browser rendered the SVG)


def test_a_short_chain_gets_a_narrow_picture_with_a_scale_and_a_word_on_the_ss8_row():
    short, long = pictures.figure(from_ss8("CHHHHHHHHCCCCCCCCCCC")), pictures.figure(from_ss8("CHHHHEEEEC" * 10))
    assert short.get_figwidth() < 0.75 * long.get_figwidth()  # not a 100-residue canvas for 20 residues
    texts = [el.text or "" for el in ET.fromstring(pictures.svg(from_ss8("CHHHHHHHHC" * 2))).iter(f"{SVG_NS}text")]
    assert texts.count("0") >= 1 and texts.count("1") >= 1  # the confidence track's scale
    assert any("SS8: the most likely of 8 states" in t for t in texts)


# ---- the tracks beside secondary structure (a multi-task model's accessibility and disorder)

def with_values(pred: Prediction, rsa=None, disorder=None) -> Prediction:
    return Prediction(pred.id, pred.sequence, pred.p8, pred.p3, rsa=rsa, disorder=disorder)


def bars(svg_text: str, gid: str) -> int:
    """The bars (paths) in the group with id `gid`; 0 where there is none."""
    group = next((el for el in ET.fromstring(svg_text).iter() if el.get("id") == gid), None)
    return 0 if group is None else len(list(group.iter(f"{SVG_NS}path")))


def texts(svg_text: str) -> list[str]:
    return [el.text or "" for el in ET.fromstring(svg_text).iter(f"{SVG_NS}text")]


def test_accessibility_and_disorder_tracks_are_drawn_only_when_the_prediction_has_them():
    ss_only = from_ss8(("CCHHHHHHHHCCCEEEEECC" * 6)[:110], seed=2)
    n = len(ss_only.sequence)
    rsa = np.linspace(0, 1, n).astype(np.float32)
    rsa[5] = np.nan  # a residue without a value (X) gets no bar
    disorder = np.r_[np.full(10, 0.9), np.full(n - 10, 0.1)].astype(np.float32)
    plain, both = pictures.svg(ss_only), pictures.svg(with_values(ss_only, rsa, disorder))
    assert not [i for i in ids(plain) if "rsa" in i or "disorder" in i]
    assert not {"RSA", "Dis"} & set(texts(plain)) and "accessibility" not in plain
    # one bar per residue with a value, in the colour of its side of 25% (RSA) and 0.5 (disorder), row by row
    exposed = int((rsa[:100] >= 0.25).sum())
    assert bars(both, "row1-rsa-exposed") == exposed and bars(both, "row1-rsa-buried") == 100 - 1 - exposed
    assert bars(both, "row2-rsa-exposed") == 10 and bars(both, "row2-rsa-buried") == 0
    assert (bars(both, "row1-disorder-high"), bars(both, "row1-disorder-low"), bars(both, "row2-disorder-low")) \
        == (10, 90, 10)
    assert {"row1-rsa-line", "row1-disorder-line", "row2-rsa-line"} <= set(ids(both))
    assert texts(both).count("RSA") == texts(both).count("Dis") == 2  # each row's track labels
    assert any("relative solvent accessibility" in t for t in texts(both))  # the legend line
    assert any("disordered (\u2265 0.5)" in t for t in texts(both))
    assert sorted(glyphs(both, "helix")) == sorted(glyphs(plain, "helix"))  # the same cartoon above them
    only_rsa = pictures.svg(with_values(ss_only, rsa=rsa))
    assert bars(only_rsa, "row1-rsa-exposed") == exposed and "Dis" not in texts(only_rsa)
    heights = [pictures.figure(p).get_figheight() for p in
               (ss_only, with_values(ss_only, rsa=rsa), with_values(ss_only, rsa, disorder))]
    assert heights[0] < heights[1] < heights[2]  # room for each track, none without it


def test_a_prediction_without_the_values_is_drawn_as_before_the_tracks():
    """SS-only: the picture as before the tracks (its height: header and rows; no element beyond the cartoon,
    letters and confidence bars). ss-predict's svg / png of examples/example.fasta were byte-identical."""
    pred = from_ss8("CHHHHHHHHC" * 13, seed=3)
    fig = pictures.figure(pred)
    assert fig.get_figheight() == pytest.approx(pictures.HEADER_IN + 2 * pictures.FULL["height"] + 0.05)
    assert {i.split("-", 1)[1] for i in ids(pictures.svg(pred)) if i.startswith("row")} \
        == {"conf-helix", "conf-coil"}


def test_a_multi_task_models_prediction_gets_the_tracks_and_an_ss_only_models_does_not(tmp_path):
    from conftest import MULTI_TASK, tiny_checkpoint
    seq = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
    multi = Predictor(str(tiny_checkpoint(tmp_path / "mt.pt", tasks=MULTI_TASK)), "cpu").predict({"u": seq})[0]
    ss_only = Predictor(str(tiny_checkpoint(tmp_path / "ss.pt")), "cpu").predict({"u": seq})[0]
    drawn = pictures.svg(multi)
    assert bars(drawn, "row1-rsa-exposed") + bars(drawn, "row1-rsa-buried") == len(seq)
    assert bars(drawn, "row1-disorder-high") + bars(drawn, "row1-disorder-low") == len(seq)
    assert not [i for i in ids(pictures.svg(ss_only)) if "rsa" in i or "disorder" in i]
    assert multi.plot().get_figheight() > ss_only.plot().get_figheight()


@pytest.mark.parametrize("length", [20, 76, 300])
def test_track_labels_and_legend_neither_overlap_nor_leave_the_picture(length):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text
    pred = from_ss8(("CCHHHHHHHHCCCEEEEECC" * 15)[:length], seed=4)
    pred = with_values(pred, np.linspace(0, 1, length).astype(np.float32), np.linspace(1, 0, length).astype(np.float32))
    fig = pictures.figure(pred)
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text) if t.get_text()]
    assert not [s for s, b in boxes if b.x0 < 0 or b.y0 < 0 or b.x1 > fig.bbox.width or b.y1 > fig.bbox.height]
    assert not [(a[0], b[0]) for k, a in enumerate(boxes) for b in boxes[k + 1:] if a[1].overlaps(b[1])]


def test_the_compact_view_of_a_long_chain_has_the_tracks_too():
    n = 5_500
    pred = from_ss8(("CCHHHHHHHHHHCCCEEEEECC" * 300)[:n], seed=5)
    pred = with_values(pred, np.full(n, 0.1, np.float32), np.full(n, 0.7, np.float32))
    text = pictures.svg(pred)
    assert bars(text, "row1-rsa-buried") == pictures.COMPACT_ROW and bars(text, "row1-rsa-exposed") == 0
    assert bars(text, "row11-disorder-high") == n - 10 * pictures.COMPACT_ROW
