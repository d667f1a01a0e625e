"""Output layouts checked against rules written out here (PSIPRED's psipass2 HFORMAT, VFORMAT widths,
JSON rounding), not against our own earlier output."""
import json
import re

import numpy as np
import pytest

from ss_predict.prediction.renderers import horiz, render, ss2
from ss_predict.prediction.result import Prediction

HEADER = "# PSIPRED HFORMAT (PSIPRED V4.0)\n"


def prediction(length: int, seed: int = 0) -> Prediction:
    rng = np.random.default_rng(seed)
    p8 = rng.dirichlet(np.ones(8), length).astype(np.float32)
    # 3-state sums of the 8 states C B E G I H S T: H = G+I+H, E = E+B, C = C+S+T
    p3 = np.stack([p8[:, [3, 4, 5]].sum(1), p8[:, [1, 2]].sum(1), p8[:, [0, 6, 7]].sum(1)], 1)
    seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), length))
    return Prediction("x", seq, p8, p3)


def psipass2_layout(pred: Prediction) -> str:
    """HFORMAT as psipass2 prints it: header; then L // 60 + 1 blocks (a length that is a multiple of
    60 ends with an empty block), each a blank line, Conf/Pred/AA lines of up to 60 residues and a
    ruler line, then one blank line. The ruler: six spaces, then each multiple of ten of the block
    right-aligned in a ten-column field; spaces continue to four columns short of the block's last
    residue (a block of 1-4 residues has six spaces only). Confidence: 10 x (best - second best), 0-9."""
    top = np.sort(pred.p3, axis=1)
    conf = "".join(str(min(9, int(10 * (t[-1] - t[-2])))) for t in top)
    ss3 = "".join("HEC"[i] for i in pred.p3.argmax(1))
    seq, text = pred.sequence, HEADER
    for b in range(len(seq) // 60 + 1):
        part = slice(60 * b, 60 * b + 60)
        n = len(seq[part])
        ruler = "".join(f"{60 * b + k:10d}" for k in range(10, n + 1, 10))
        ruler = ruler.ljust(n - 4) if n > 4 else ruler
        text += f"\nConf: {conf[part]}\nPred: {ss3[part]}\n  AA: {seq[part]}\n      {ruler}\n\n"
    return text


@pytest.mark.parametrize("length", [1, 4, 5, 60, 61, 120, 125])
def test_horiz_matches_psipass2_layout(length):
    pred = prediction(length)
    assert horiz(pred) == psipass2_layout(pred)


def test_horiz_details_spelled_out():
    lines = horiz(prediction(4)).split("\n")
    assert lines[5] == "      "  # a block of 1-4 residues: six spaces, not an empty line
    lines = horiz(prediction(5)).split("\n")
    assert lines[5] == "       "  # one column for the fifth-last residue
    assert horiz(prediction(60)).endswith("        60\n\n\nConf: \nPred: \n  AA: \n      \n\n")  # empty last block
    last = horiz(prediction(125)).split("\n")
    assert last[-9] == "      " + "".join(f"{k:10d}" for k in range(70, 121, 10))
    assert last[-3] == "       " and last[-2:] == ["", ""]
    short = horiz(prediction(76)).split("\n")  # 16 residues in the last block: padded to 12 columns
    assert short[-3] == "      " + "        70  "


def test_ss2_psipred_columns_and_wide_positions():
    small = ss2(prediction(12)).splitlines()
    f = small[2]
    assert re.fullmatch(r"   1 [A-Z] [CHE]  [ 0-9.]{6} [ 0-9.]{6} [ 0-9.]{6}", f)  # PSIPRED's "%4d %c %c  %6.3f ..."
    big = ss2(prediction(10001)).splitlines()[2:]
    assert big[0].startswith("    1 ") and big[-1].startswith("10001 ")
    assert len({len(line) for line in big}) == 1  # the columns stay aligned past 9,999
    assert len({len(line) for line in ss2(prediction(9999)).splitlines()[2:]}) == 1
    assert ss2(prediction(9999)).splitlines()[-1].startswith("9999 ")


def test_json_probabilities_are_rounded_python_floats():
    pred = prediction(50)
    text = render([pred], "json")
    assert not re.search(r"\d\.\d{5,}", text)  # no float32 noise such as 0.9210000038146973
    rec = json.loads(text)[0]
    for key in ("p8", "p3"):
        want = [[round(float(v), 4) for v in row] for row in getattr(pred, key)]
        assert rec[key] == want
