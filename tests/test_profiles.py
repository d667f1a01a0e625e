from pathlib import Path

import numpy as np
import pytest

from ss_predict.errors import FormatError, UserError
from ss_predict.data.formats.fasta import read_fasta
from ss_predict.data.formats.zhou import ZHOU_PROFILE
from ss_predict.data.profiles import attach_profiles, read_hhm, read_pssm

FIX = Path(__file__).parent / "fixtures"
SEQ = read_fasta(FIX / "3VOP_A.fasta")[0].sequence


def test_pssm_to_zhou_columns():
    seq, prof = read_pssm(FIX / "3VOP_A.pssm")
    assert seq == SEQ and prof.shape == (64, 22)
    # row 1 is S with PSSM score 4 for S and -3 for W: logistic of the score, Zhou column order
    assert prof[0, ZHOU_PROFILE.index("S")] == pytest.approx(1 / (1 + np.exp(-4)))
    assert prof[0, ZHOU_PROFILE.index("W")] == pytest.approx(1 / (1 + np.exp(3)))
    assert (prof[:, [ZHOU_PROFILE.index("X"), 21]] == 0).all()  # X and NoSeq columns
    # the residue's own column is (nearly always) the row maximum
    own = prof[np.arange(64), [ZHOU_PROFILE.index(a) for a in seq]]
    assert (own >= prof[:, :20].max(1) - 1e-6).mean() > 0.9


def test_hhm_to_zhou_columns():
    seq, prof = read_hhm(FIX / "3VOP_A.hhm")
    assert seq == SEQ and prof.shape == (64, 22)
    assert ((prof >= 0) & (prof <= 1)).all()
    assert (prof[np.arange(64), [ZHOU_PROFILE.index(a) for a in seq]] > 0.99).all()


def test_attach_profiles_checks_sequences(tmp_path):
    p = read_fasta(FIX / "3VOP_A.fasta")
    attach_profiles(p, FIX)
    assert p[0].profile.shape == (64, 22)
    other = tmp_path / "3VOP_A.pssm"
    other.write_text((FIX / "3VOP_A.pssm").read_text().replace("    1 S ", "    1 W "))
    with pytest.raises(UserError, match="residue 1 is 'W'"):
        attach_profiles(read_fasta(FIX / "3VOP_A.fasta"), tmp_path)
    with pytest.raises(UserError, match="no 3VOP_A.pssm or 3VOP_A.hhm"):
        attach_profiles(read_fasta(FIX / "3VOP_A.fasta"), tmp_path / "..")
    (tmp_path / "junk.pssm").write_text("hello\n")
    with pytest.raises(FormatError, match="not a PSI-BLAST ASCII PSSM"):
        read_pssm(tmp_path / "junk.pssm")
