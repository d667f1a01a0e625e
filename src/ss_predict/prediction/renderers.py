"""Prediction renderers: PSIPRED ss2 (VFORMAT) and horiz (HFORMAT), 3-line FASTA, JSON, JSON lines, CSV
(text, record by record, so that a run can stream them), and the Parquet table layout (see `writers`)."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import numpy as np

from ..core.alphabet import SS3, SS8

TEXT_FORMATS = ("ss2", "horiz", "fasta", "json", "jsonl", "csv")
BINARY_FORMATS = ("parquet",)
PICTURE_FORMATS = ("svg", "png")  # pictures.py (matplotlib)
FORMATS = TEXT_FORMATS + BINARY_FORMATS + PICTURE_FORMATS
EXTENSIONS = {f: f for f in FORMATS}
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
        """This prediction as a PSIPRED-style cartoon: a matplotlib Figure (see ss_predict.prediction.pictures)."""
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


CSV_HEADER = ",".join(["id", "position", "residue", "ss8", "ss3", *[f"p8_{s}" for s in SS8],
                       *[f"p3_{s}" for s in SS3]]) + "\n"


def csv_rows(pred: Prediction) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    ss8, ss3 = pred.ss8, pred.ss3
    for i, aa in enumerate(pred.sequence):
        w.writerow([pred.id, i + 1, aa, ss8[i], ss3[i], *[f"{v:.4f}" for v in pred.p8[i]],
                    *[f"{v:.4f}" for v in pred.p3[i]]])
    return buf.getvalue()


def _json(pred: Prediction) -> str:
    return json.dumps(json_record(pred), separators=(",", ":"))


def render_record(pred: Prediction, fmt: str, index: int, several: bool) -> str:
    """The text that record number `index` (0-based, among all records of the run) adds to a stream of `fmt`;
    `several`: the run has more than one record (ss2 / horiz then name each record in a comment line).
    Concatenating the records of any contiguous ranges in order gives the text of the whole run."""
    if fmt == "json":
        return ("[" if index == 0 else ",") + _json(pred)
    if fmt == "jsonl":
        return _json(pred) + "\n"
    if fmt == "csv":
        return (CSV_HEADER if index == 0 else "") + csv_rows(pred)
    if fmt == "fasta":
        return fasta3(pred)
    one = {"ss2": ss2, "horiz": horiz}[fmt](pred)
    return f"# record: {pred.id}\n{one}" if several else one


def render_end(fmt: str) -> str:
    """What follows the last record of a run."""
    return "]\n" if fmt == "json" else ""


def render(preds: list[Prediction], fmt: str) -> str:
    """All predictions as one text in `fmt` (a text format)."""
    several = len(preds) > 1
    return "".join(render_record(p, fmt, i, several) for i, p in enumerate(preds)) + render_end(fmt)


def parquet_table(preds: list[Prediction]):
    """One row per residue, the CSV's columns: id (string), position (int32, from 1), residue, ss8, ss3
    (one-letter strings), p8_C ... p8_T and p3_H, p3_E, p3_C (float32, unrounded)."""
    import pyarrow as pa

    n = sum(len(p.sequence) for p in preds)
    ids = [p.id for p in preds for _ in range(len(p.sequence))]
    cols = {
        "id": pa.array(ids, pa.string()),
        "position": pa.array(np.concatenate([np.arange(1, len(p.sequence) + 1, dtype=np.int32) for p in preds])
                             if n else np.zeros(0, np.int32)),
        "residue": pa.array(list("".join(p.sequence for p in preds)), pa.string()),
        "ss8": pa.array(list("".join(p.ss8 for p in preds)), pa.string()),
        "ss3": pa.array(list("".join(p.ss3 for p in preds)), pa.string()),
    }
    p8 = np.concatenate([p.p8 for p in preds]).astype(np.float32) if n else np.zeros((0, 8), np.float32)
    p3 = np.concatenate([p.p3 for p in preds]).astype(np.float32) if n else np.zeros((0, 3), np.float32)
    for j, st in enumerate(SS8):
        cols[f"p8_{st}"] = pa.array(p8[:, j])
    for j, st in enumerate(SS3):
        cols[f"p3_{st}"] = pa.array(p3[:, j])
    return pa.table(cols)
