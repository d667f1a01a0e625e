"""Prediction writers: PSIPRED ss2 (VFORMAT) and horiz (HFORMAT), 3-line FASTA, JSON, CSV."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import numpy as np

from .alphabet import SS3, SS8

FORMATS = ("ss2", "horiz", "fasta", "json", "csv")
EXTENSIONS = {"ss2": "ss2", "horiz": "horiz", "fasta": "fasta", "json": "json", "csv": "csv"}
_PSIPRED_ORDER = [SS3.index(s) for s in "CHE"]  # ss2 columns: P(C), P(H), P(E)


@dataclass
class Prediction:
    id: str
    sequence: str
    p8: np.ndarray  # L x 8 (alphabet.SS8 order)
    p3: np.ndarray  # L x 3 (alphabet.SS3 order)

    @property
    def ss8(self) -> str:
        return "".join(SS8[i] for i in self.p8.argmax(1))

    @property
    def ss3(self) -> str:
        return "".join(SS3[i] for i in self.p3.argmax(1))


def ss2(pred: Prediction) -> str:
    lines = ["# PSIPRED VFORMAT (PSIPRED V4.0)", ""]
    ss3, p = pred.ss3, pred.p3[:, _PSIPRED_ORDER]
    for i, aa in enumerate(pred.sequence):
        lines.append(f"{i + 1:4d} {aa} {ss3[i]}  {p[i, 0]:6.3f} {p[i, 1]:6.3f} {p[i, 2]:6.3f}")
    return "\n".join(lines) + "\n"


def confidence(p3: np.ndarray) -> str:
    """PSIPRED-style 0-9 confidence: 10 x (best - second best) probability, capped at 9."""
    top = np.sort(p3, axis=1)
    return "".join(str(min(9, int(10 * d))) for d in top[:, -1] - top[:, -2])


def horiz(pred: Prediction) -> str:
    conf, ss3, seq = confidence(pred.p3), pred.ss3, pred.sequence
    out = ["# PSIPRED HFORMAT (PSIPRED V4.0)", ""]
    for s in range(0, len(seq), 60):
        e = min(s + 60, len(seq))
        ruler = "".join(f"{k:>10d}" for k in range(s + 10, e + 1, 10))
        out += [f"Conf: {conf[s:e]}", f"Pred: {ss3[s:e]}", f"  AA: {seq[s:e]}", f"      {ruler}".rstrip(), "", ""]
    return "\n".join(out)


def fasta3(pred: Prediction) -> str:
    return f">{pred.id}\n{pred.sequence}\n{pred.ss8}\n"


def json_record(pred: Prediction) -> dict:
    return {"id": pred.id, "sequence": pred.sequence, "ss8": pred.ss8, "ss3": pred.ss3,
            "p8": np.round(pred.p8, 4).tolist(), "p3": np.round(pred.p3, 4).tolist(),
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
