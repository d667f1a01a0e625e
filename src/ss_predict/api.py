"""The Python API: secondary structure of sequences given in Python, with the CLI's validation.

    import ss_predict
    preds = ss_predict.predict(["MQIFVKTLTG...", ("lyz", "KVFGRCELAA...")], model="default", device="cpu")
    predictor = ss_predict.Predictor(model="default", device="cpu")   # load once, predict many times
    preds = predictor.predict("proteins.fasta")
    for p in predictor.predict_iter("proteome.fasta.gz"): ...        # any size, bounded memory, input order

Each prediction (`Prediction`) has `id`, `sequence`, `ss8`, `ss3` (strings) and `p8` (L x 8,
columns in `STATES8` order), `p3` (L x 3, `STATES3` order) numpy arrays. Invalid input raises
`FormatError` (a `UserError`) naming the record and position, exactly as `ss-predict` reports it.
"""
from __future__ import annotations

from pathlib import Path

from .core.alphabet import SS3, SS8
from .core.records import Protein
from .prediction.result import Prediction
from .prediction.renderers import FORMATS
from .prediction.predictor import SOURCE, Predictor, Shard, iter_input  # noqa: F401  (the API's names)
from .prediction.writers import check_output, open_sink

STATES8, STATES3 = SS8, SS3


def read_proteins(sequences, allow_nucleotide: bool = False) -> list[Protein]:
    """Validated proteins from a FASTA path ('-': standard input; gzip read transparently), a list of
    sequence strings, (id, sequence) pairs, an {id: sequence} mapping or Biopython SeqRecords."""
    return list(iter_input(sequences, allow_nucleotide=allow_nucleotide))


def predict(sequences, model: str = "default", device: str = "cpu", **options) -> list[Prediction]:
    """Load `model` on `device` and predict `sequences` (see `read_proteins` for the accepted forms;
    `options` go to `Predictor.predict`). To predict repeatedly, keep a `Predictor` instead."""
    return Predictor(model, device).predict(sequences, **options)


def write(predictions: list[Prediction], path: str | Path | None = None, format: str = "ss2") -> None:
    """Write predictions as `ss-predict -f FORMAT -o PATH` would (None or '-': standard output;
    a path ending in '/' or an existing folder: one file per record)."""
    if format not in FORMATS:
        raise ValueError(f"format '{format}' is not one of {', '.join(FORMATS)}")
    predictions = [predictions] if isinstance(predictions, Prediction) else list(predictions)
    wrong = next((p for p in predictions if not isinstance(p, Prediction)), predictions)
    if wrong is not predictions:
        raise TypeError(f"predictions: expected Prediction objects (from predict), got a {type(wrong).__name__}")
    out = None if path is None else str(path)
    check_output(out, format)
    sink = open_sink(format, out, {}, journal=False)
    sink.start(False)
    try:
        sink.write(0, predictions, 0, len(predictions) > 1, True)
        sink.finish()
    except BaseException:
        sink.abort(interrupted=False)
        raise
