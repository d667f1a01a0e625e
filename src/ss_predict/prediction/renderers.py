"""The output formats, one registered `Format` each: `ss-predict -f`, `ss_predict.write`, the writers and
ss-serve (the formats it offers, their content types, its page's menu) all read `FORMATS`, so adding a format
is one `Format` in `FORMATS` here. The renderers: PSIPRED ss2 (VFORMAT) and horiz (HFORMAT), 3-line FASTA, JSON,
JSON lines, CSV (text, record by record, so that a run can stream them), the Parquet table and the pictures."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.alphabet import SS3, SS8
from ..errors import UserError
from .result import Prediction
from . import pictures


@dataclass(frozen=True)
class Format:
    """One output format. `kind` says what `render` gives: "text": `render(pred, index, several)` is the text
    record `index` (of the run) adds to a stream, `end` follows the last record, `empty` is a run of none;
    "table": `render(preds)` is a pyarrow Table (written as Parquet, a row group per window); "picture":
    `render(preds)` draws them all in one picture (str or bytes), drawn when the run ends. `stacks`: several
    records fit one file; `binary`: not for a terminal; `served`: ss-serve offers it, as `media`; `needs`: the
    model tasks (models.base.TASKS) it cannot be written without."""
    name: str
    kind: str
    render: Callable
    end: str = ""
    empty: str = ""
    media: str = "text/plain; charset=utf-8"
    served: bool = False
    stacks: bool = True
    binary: bool = False
    needs: tuple = ()
    suffix: str = ""  # the file-name extension where it is not the format's name

    @property
    def extension(self) -> str:
        return self.suffix or self.name


_PSIPRED_ORDER = [SS3.index(s) for s in "CHE"]  # ss2 columns: P(C), P(H), P(E)


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


def _rounded(p: np.ndarray) -> list:
    """Python floats rounded to 4 decimals (so 0.921 prints as 0.921, not float32's 0.9210000038146973)."""
    return [[round(v, 4) for v in row] for row in p.tolist()]


# The values beside secondary structure (Prediction.tasks), in column order, with the decimals they print with.
TASK_DECIMALS = {"rsa": 4, "asa": 2, "phi": 1, "psi": 1, "disorder": 4}


def _values(arr: np.ndarray, decimals: int) -> list:
    """Floats rounded to `decimals`, None for NaN (the ASA of an unknown residue)."""
    return [None if np.isnan(v) else round(v, decimals) for v in arr.tolist()]


def json_record(pred: Prediction) -> dict:
    rec = {"id": pred.id, "sequence": pred.sequence, "ss8": pred.ss8, "ss3": pred.ss3,
           "p8": _rounded(pred.p8), "p3": _rounded(pred.p3)}
    rec.update({k: _values(getattr(pred, k), TASK_DECIMALS[k]) for k in pred.tasks})
    return rec | {"states8": SS8, "states3": SS3}


CSV_HEADER = ",".join(["id", "position", "residue", "ss8", "ss3", *[f"p8_{s}" for s in SS8],
                       *[f"p3_{s}" for s in SS3]]) + "\n"


def csv_header(pred: Prediction) -> str:
    """CSV_HEADER, with a column per value the prediction carries beside secondary structure (rsa, asa, ...)."""
    return CSV_HEADER[:-1] + "".join(f",{k}" for k in pred.tasks) + "\n"


def csv_rows(pred: Prediction) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    ss8, ss3 = pred.ss8, pred.ss3
    more = [(getattr(pred, k), TASK_DECIMALS[k]) for k in pred.tasks]
    for i, aa in enumerate(pred.sequence):
        w.writerow([pred.id, i + 1, aa, ss8[i], ss3[i], *[f"{v:.4f}" for v in pred.p8[i]],
                    *[f"{v:.4f}" for v in pred.p3[i]],
                    *["" if np.isnan(a[i]) else f"{a[i]:.{d}f}" for a, d in more]])
    return buf.getvalue()


# NetSurfP-3.0's CSV (its public client's layout: this header, then "," between values, one row per residue, the
# records one after another under one header): id is the FASTA title line with its '>', n counts from 1, rsa
# 0..1, asa = rsa x Tien et al.'s maximum (0 for X, as NetSurfP writes it), q3 / q8 the argmax letters, the
# probabilities in the header's state order, phi / psi in degrees, disorder the probability of disorder.
NETSURFP_HEADER = ("id, seq, n, rsa, asa, q3, p[q3_H], p[q3_E], p[q3_C], q8, p[q8_G], p[q8_H], p[q8_I], p[q8_B], "
                   "p[q8_E], p[q8_S], p[q8_T], p[q8_C], phi, psi, disorder\n")
_NSP_Q8 = [SS8.index(s) for s in "GHIBESTC"]
_NSP_Q3 = [SS3.index(s) for s in "HEC"]
NETSURFP_TASKS = ("rsa", "phi", "psi", "disorder")


def netsurfp_rows(pred: Prediction) -> str:
    """One row per residue in NetSurfP-3.0's CSV layout; numbers as NetSurfP's client prints its float32 values
    (the shortest text that reads back as the same float32)."""
    missing = [k for k in NETSURFP_TASKS if getattr(pred, k) is None]
    if missing:
        raise UserError(f"format netsurfp needs a model that predicts accessibility, angles and disorder; this "
                        f"model gives no {', '.join(missing)} (record '{pred.id}'): use the bundled multi-task "
                        "model, or another format")
    def num(v): return str(np.float32(v))
    asa = np.nan_to_num(pred.asa, nan=0.0)
    q3, q8 = pred.ss3, "".join("GHIBESTC"[j] for j in pred.p8[:, _NSP_Q8].argmax(1))
    rows = []
    for i, aa in enumerate(pred.sequence):
        rows.append(",".join([f">{pred.id}", aa, str(i + 1), num(pred.rsa[i]), num(asa[i]), q3[i],
                              *[num(v) for v in pred.p3[i, _NSP_Q3]], q8[i], *[num(v) for v in pred.p8[i, _NSP_Q8]],
                              num(pred.phi[i]), num(pred.psi[i]), num(pred.disorder[i])]))
    return "\n".join(rows) + "\n"


def _json(pred: Prediction) -> str:
    return json.dumps(json_record(pred), separators=(",", ":"))


def format_problem(fmt: str, tasks) -> str | None:
    """Why `fmt` cannot be written with a model predicting `tasks` (unknown, or a task it needs missing), or None."""
    if fmt not in FORMATS:
        return f"format '{fmt}' is not one of {', '.join(FORMATS)}"
    missing = [t for t in FORMATS[fmt].needs if t not in tasks]
    if missing:
        return (f"format {fmt} needs a model that predicts {', '.join(FORMATS[fmt].needs)}; this model predicts "
                f"{', '.join(tasks)} only (no {', '.join(missing)}): use a multi-task model (the bundled one: "
                f"-m multitask) or another format")
    return None


def render(preds: list[Prediction], fmt: str, first: int = 0, several: bool | None = None,
           last: bool = True) -> str:
    """The text that records number `first`.. of a run add to a stream of text format `fmt` (`several`: the run
    has more than one record; by default `preds` are the whole run), with the end if `last`. Concatenating
    the texts of any contiguous ranges in order gives the text of the whole run."""
    f = FORMATS[fmt]
    if not preds and first == 0 and last:  # a run of no records at all (the API's write([]))
        return f.empty
    several = len(preds) > 1 if several is None else several
    return "".join(f.render(p, first + i, several) for i, p in enumerate(preds)) + (f.end if last else "")


def render_file(preds: list[Prediction], fmt: str) -> bytes:
    """A whole file of `preds` in `fmt` (one record's own file, for -o DIR/; a picture)."""
    f = FORMATS[fmt]
    if f.kind == "text":
        return render(preds, fmt).encode()
    if f.kind == "picture":
        data = f.render(preds)
        return data.encode() if isinstance(data, str) else data
    import pyarrow as pa
    import pyarrow.parquet as pq
    buf = pa.BufferOutputStream()
    pq.write_table(f.render(preds), buf)
    return buf.getvalue().to_pybytes()


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
    for k in (preds[0].tasks if preds else []):  # the values beside secondary structure (float32, NaN = none)
        cols[k] = pa.array(np.concatenate([getattr(p, k) for p in preds]).astype(np.float32))
    return pa.table(cols)


def _named(one: Callable) -> Callable:
    """A PSIPRED renderer as a stream's record: with several records, each named in a comment line first."""
    return lambda p, i, several: f"# record: {p.id}\n{one(p)}" if several else one(p)


FORMATS: dict[str, Format] = {f.name: f for f in (  # the registry, in the order `ss-predict --help` lists it
    Format("ss2", "text", _named(ss2), served=True),
    Format("horiz", "text", _named(horiz), served=True),
    Format("fasta", "text", lambda p, i, several: f">{p.id}\n{p.sequence}\n{p.ss8}\n", served=True),
    Format("json", "text", lambda p, i, several: ("[" if i == 0 else ",") + _json(p), end="]\n",
           empty="[]\n", media="application/json", served=True),
    Format("jsonl", "text", lambda p, i, several: _json(p) + "\n"),
    Format("csv", "text", lambda p, i, several: (csv_header(p) if i == 0 else "") + csv_rows(p)),
    Format("netsurfp", "text", lambda p, i, several: (NETSURFP_HEADER if i == 0 else "") + netsurfp_rows(p),
           media="text/csv; charset=utf-8", served=True, needs=("rsa", "angles", "disorder"),
           suffix="csv"),
    Format("parquet", "table", parquet_table, binary=True),
    Format("svg", "picture", pictures.svg, media="image/svg+xml", served=True),
    Format("png", "picture", pictures.png, media="image/png", stacks=False, binary=True),
)}
