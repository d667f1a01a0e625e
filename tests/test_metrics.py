import numpy as np
import pytest

from ss_predict.core.alphabet import SS3, SS8_TO_SS3, parse_ss3, parse_ss8, ss8_to_ss3, ss8_to_ss3_matrix
from ss_predict.evaluation.metrics import confusion, evaluate_predictions, per_class, sov99


def s3(text):
    return parse_ss3(text).astype(np.int64)


def test_eight_to_three_map_written_once():
    assert {s: SS8_TO_SS3[s] for s in "HGI"} == {"H": "H", "G": "H", "I": "H"}
    assert SS8_TO_SS3["E"] == SS8_TO_SS3["B"] == "E"
    assert SS8_TO_SS3["T"] == SS8_TO_SS3["S"] == SS8_TO_SS3["C"] == "C"
    m = ss8_to_ss3_matrix()
    assert m.sum() == 8 and (m.sum(1) == 1).all()
    labels = parse_ss8("HGIEBTSCLPX")
    assert "".join(SS3[i] if i >= 0 else "-" for i in ss8_to_ss3(labels)) == "HHHEECCCCC-"


def test_sov99_hand_worked():
    # H: obs [3,8) vs pred [4,7): minov 3, maxov 5, delta min(2,3,2,1)=1 -> (3+1)/5*5 = 4
    # C: [0,3) vs [0,4): (3+1)/4*3 = 3;  [8,10) vs [7,10): (2+1)/3*2 = 2.  N = 5+3+2 = 10
    assert sov99(s3("CCCHHHHHCC"), s3("CCCCHHHCCC")) == pytest.approx(90.0)
    assert sov99(s3("HHHHEEEECC"), s3("HHHHEEEECC")) == pytest.approx(100.0)
    # an observed segment without any overlapping prediction only adds to N
    assert sov99(s3("EEEE"), s3("CCCC")) == pytest.approx(0.0)


def test_sov99_reference_cases_with_unscored_residues():
    """Hand-derived from the reference definition (Zemla's sov.c): observed segments are runs of
    scored residues (X never forms a segment, N counts scored residues plus len(s1) once more for each
    extra overlapping pair); predicted segments are runs of the prediction over the whole chain."""
    # obs H [0,3) and [4,7), each against the one predicted helix [0,7): minov 3, maxov 7,
    # delta min(4,3,1,3)=1 -> (3+1)/7*3 each; N = 6 -> (24/7)/6 = 57.14 (sov.c, SOV_refine.pl without X)
    assert sov99(s3("HHHXHHH"), s3("HHHHHHH")) == pytest.approx(400 / 7)
    # the prediction at the unscored residue matters: a coil there splits the helix into two exact hits
    assert sov99(s3("HHHXHHH"), s3("HHHCHHH")) == pytest.approx(100.0)
    # C [0,2) exact: delta capped by maxov-minov = 0 -> 2; E [2,5) vs [2,7): minov 3, maxov 5,
    # delta min(2,3,1,2)=1 -> (3+1)/5*3 = 2.4; C [7,10) exact -> 3.  N = 8 -> 7.4/8 = 92.5
    assert sov99(s3("CCEEEXXCCC"), s3("CCEEEEECCC")) == pytest.approx(92.5)
    # one observed helix [0,8) hit by two predicted helices [0,3) and [5,8): each (3+1)/8*8 = 4,
    # delta min(5,3,4,1)=1; N = 8 + 8 (len(s1) again for the second pair) -> 8/16 = 50
    assert sov99(s3("HHHHHHHH"), s3("HHHCCHHH")) == pytest.approx(50.0)


def test_unscored_residues_never_count():
    true = s3("HHHHXXXXEE")   # X = unscored (padding, unresolved)
    pred = s3("HHHHEEEEEE")
    # counting the 4 padded residues would give Q3 = 10/10 or 6/10 depending on filler; only 6 are scored
    cm = confusion(true, pred, 3)
    assert cm.sum() == 6 and np.trace(cm) == 6
    pred_bad_padding = s3("HHHHCCCCEE")
    assert np.array_equal(confusion(true, pred_bad_padding, 3), cm)
    # SOV: the unscored gap splits the observed segments and adds nothing to N, but (as in the
    # reference sov.c) the predicted E run [4,10) is not cut there: H [0,4) exact -> 4;
    # E [8,10) vs [4,10): minov 2, maxov 6, delta min(4,2,1,3)=1 -> (2+1)/6*2 = 1.  N = 4+2 -> 5/6
    assert sov99(true, pred) == pytest.approx(100 * 5 / 6)


def test_per_class_hand_worked():
    # rows true, cols pred (H, E, C)
    cm = np.array([[8, 1, 1], [2, 5, 3], [0, 0, 10]])
    pc = per_class(cm, "HEC")
    assert pc["H"]["precision"] == pytest.approx(8 / 10)
    assert pc["H"]["recall"] == pytest.approx(8 / 10)
    assert pc["E"]["precision"] == pytest.approx(5 / 6)
    assert pc["E"]["recall"] == pytest.approx(5 / 10)
    assert pc["C"]["f1"] == pytest.approx(2 * (10 / 14) * 1.0 / (10 / 14 + 1.0))
    # MCC of H one-vs-rest: tp 8 fp 2 fn 2 tn 18
    assert pc["H"]["mcc"] == pytest.approx((8 * 18 - 2 * 2) / np.sqrt(10 * 10 * 20 * 20))


def test_evaluate_predictions_q3_q8_and_3state_only():
    t8 = parse_ss8("HHHGEEBCCT").astype(np.int64)
    p8 = parse_ss8("HHHHEEECCS").astype(np.int64)
    t3_only = s3("HHEEXC")
    p3_only = s3("HEEECC")
    r = evaluate_predictions([
        (t8, ss8_to_ss3(t8), p8, ss8_to_ss3(p8)),
        (None, t3_only, np.zeros(6, dtype=np.int64), p3_only),
    ])
    # Q8: G->H wrong, B->E wrong, T->S wrong: 7/10.  Q3 protein 1: all 10 right; protein 2: 4/5 scored right
    assert r["q8"] == pytest.approx(70.0)
    assert r["q3"] == pytest.approx(100 * 14 / 15)
    assert r["residues_scored"] == 15 and r["residues_scored_8state"] == 10
    assert r["proteins"] == 2
    assert np.array(r["confusion8"]).sum() == 10
    assert r["per_protein_q3"]["mean"] == pytest.approx(100 * (1.0 + 0.8) / 2)
