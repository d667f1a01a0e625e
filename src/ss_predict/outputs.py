"""Prediction writers: PSIPRED ss2 (VFORMAT) and horiz (HFORMAT), 3-line FASTA, JSON, CSV."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import numpy as np

from .alphabet import SS3, SS8

FORMATS = ("ss2", "horiz", "fasta", "json", "csv", "svg", "png")  # svg, png: pictures.py (matplotlib)
EXTENSIONS = {"ss2": "ss2", "horiz": "horiz", "fasta": "fasta", "json": "json", "csv": "csv", "svg": "svg",
              "png": "png"}
_PSIPRED_ORDER = [SS3.index(s) for s in "CHE"]  # ss2 columns: P(C), P(H), P(E)


@dataclass(repr=False)
class Prediction:
    id: str
    sequence: str
    p8: np.ndarray  # L x 8 (alphabet.SS8 order)
    p3: np.ndarray  # L x 3 (alphabet.SS3 order)

    def __repr__(self) -> str:
        ss3 = self.ss3
        return f"Prediction(id={self.id!r}, length={len(self.sequence)}, ss3={ss3[:30]!r}{'...' if len(ss3) > 30 else ''})"

    def plot(self, title: str | None = None):
        """This prediction as a PSIPRED-style cartoon: a matplotlib Figure (see ss_predict.pictures)."""
        from .pictures import figure
        return figure(self, title)

    @property
    def ss8(self) -> str:
        return "".join(SS8[i] for i in self.p8.argmax(1))

    @property
    def ss3(self) -> str:
        return "".join(SS3[i] for i in self.p3.argmax(1))


def ss2(pred: Prediction) -> str:
    """PSIPRED VFORMAT; positions are 4 wide as in PSIPRED, wider for chains over 9,999 residues."""
    lines = ["# PSIPRED VFORMAT (PSIPRED V4.0)", ""]
    ss3, p = pred.ss3, pred.p3[:, _PSIPRED_ORDER]
    w = max(4, len(str(len(pred.sequence))))
    for i, aa in enumerate(pred.sequence):
        lines.append(f"{i + 1:{w}d} {aa} {ss3[i]}  {p[i, 0]:6.3f} {p[i, 1]:6.3f} {p[i, 2]:6.3f}")
    return "\n".join(lines) + "\n"


def confidence(p3: np.ndarray) -> str:
    """PSIPRED-style 0-9 confidence: 10 x (best - second best) probability, capped at 9."""
    top = np.sort(p3, axis=1)
    return "".join(str(min(9, int(10 * d))) for d in top[:, -1] - top[:, -2])


def horiz_ruler(first: int, length: int) -> str:
    """The position ruler under the HFORMAT block that starts after residue `first` (a multiple of 60).

    As psipass2 writes it: every multiple of ten in the block, up to the chain's end, right-aligned
    five wide so that it ends under its residue; the rest spaces, up to four columns short of the
    block's last residue (nothing for a block of four residues or fewer).
    """
    n = min(60, length - first)
    cols = [" "] * max(0, n - 4)
    for k in range(10, n + 1, 10):
        cols[k - 5:k] = f"{first + k:5d}"
    return "".join(cols)


def horiz(pred: Prediction) -> str:
    """PSIPRED HFORMAT byte for byte as psipass2 lays it out: one block per 60 residues plus one
    (so a length that is a multiple of 60 ends with an empty block), each preceded by a blank line."""
    conf, ss3, seq = confidence(pred.p3), pred.ss3, pred.sequence
    out = ["# PSIPRED HFORMAT (PSIPRED V4.0)\n"]
    for s in range(0, len(seq) + 1, 60):
        e = s + 60
        out.append(f"\nConf: {conf[s:e]}\nPred: {ss3[s:e]}\n  AA: {seq[s:e]}\n      {horiz_ruler(s, len(seq))}\n\n")
    return "".join(out)


def fasta3(pred: Prediction) -> str:
    return f">{pred.id}\n{pred.sequence}\n{pred.ss8}\n"


def _rounded(p: np.ndarray) -> list:
    """Python floats rounded to 4 decimals (so 0.921 prints as 0.921, not float32's 0.9210000038146973)."""
    return [[round(v, 4) for v in row] for row in p.tolist()]


def json_record(pred: Prediction) -> dict:
    return {"id": pred.id, "sequence": pred.sequence, "ss8": pred.ss8, "ss3": pred.ss3,
            "p8": _rounded(pred.p8), "p3": _rounded(pred.p3),
            "states8": SS8, "states3": SS3}


def csv_rows(preds: list[Prediction]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "position", "residue", "ss8", "ss3", *[f"p8_{s}" for s in SS8], *[f"p3_{s}" for s in SS3]])
    for pred in preds:
        ss8, ss3 = pred.ss8, pred.ss3
        for i, aa in enumerate(pred.sequence):
            w.writerow([pred.id, i + 1, aa, ss8[i], ss3[i], *[f"{v:.4f}" for v in pred.p8[i]],
                        *[f"{v:.4f}" for v in pred.p3[i]]])
    return buf.getvalue()


def render(preds: list[Prediction], fmt: str) -> str:
    """All predictions as one text in `fmt`."""
    if fmt == "json":
        return json.dumps([json_record(p) for p in preds], separators=(",", ":")) + "\n"
    if fmt == "csv":
        return csv_rows(preds)
    one = {"ss2": ss2, "horiz": horiz, "fasta": fasta3}[fmt]
    if fmt == "fasta" or len(preds) == 1:
        return "".join(one(p) for p in preds)
    # several PSIPRED blocks in one stream: a comment line names each record
    return "".join(f"# record: {p.id}\n{one(p)}" for p in preds)
