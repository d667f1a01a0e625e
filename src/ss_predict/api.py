"""The Python API: secondary structure of sequences given in Python, with the CLI's validation.

    import ss_predict
    preds = ss_predict.predict(["MQIFVKTLTG...", ("lyz", "KVFGRCELAA...")], model="default", device="cpu")
    predictor = ss_predict.Predictor(model="default", device="cpu")   # load once, predict many times
    preds = predictor.predict("proteins.fasta")

Each prediction (`outputs.Prediction`) has `id`, `sequence`, `ss8`, `ss3` (strings) and `p8` (L x 8,
columns in `STATES8` order), `p3` (L x 3, `STATES3` order) numpy arrays. Invalid input raises
`FormatError` (a `UserError`) naming the record and position, exactly as `ss-predict` reports it.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .alphabet import SS3, SS8
from .errors import FormatError
from .formats.fasta import parse_fasta, parse_records
from .inference import resolve_device
from .outputs import FORMATS, Prediction
from .prediction import check_profiles, load_predictor, predict_proteins, write_predictions
from .records import Protein

STATES8, STATES3 = SS8, SS3
SOURCE = "sequences"  # names Python input in error messages, as a path names a file


def _pairs(sequences) -> list[tuple[str, str]]:
    """(id, sequence) pairs from strings (ids seq1, seq2, ...), pairs, a mapping or Biopython SeqRecords."""
    if isinstance(sequences, Mapping):
        return [(str(k), str(v)) for k, v in sequences.items()]
    if not isinstance(sequences, Iterable):
        raise TypeError(f"sequences: expected a FASTA path or a list of sequences, got {type(sequences).__name__}")
    pairs = []
    for n, item in enumerate(sequences, start=1):
        if isinstance(item, str):
            pairs.append((f"seq{n}", item))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((str(item[0]), str(item[1])))
        elif hasattr(item, "id") and hasattr(item, "seq"):  # Bio.SeqRecord.SeqRecord
            pairs.append((str(item.id), str(item.seq)))
        else:
            raise TypeError(f"sequences: item {n} is a {type(item).__name__}; give sequence strings, "
                            "(id, sequence) pairs or SeqRecords")
    return pairs


def read_proteins(sequences, allow_nucleotide: bool = False) -> list[Protein]:
    """Validated proteins from a FASTA path ('-': standard input; gzip read transparently), a list of
    sequence strings, (id, sequence) pairs, an {id: sequence} mapping or Biopython SeqRecords."""
    if isinstance(sequences, (str, os.PathLike)):
        path = Path(sequences)
        if str(sequences) != "-" and not path.exists() and not path.suffix and str(sequences).isalpha():
            raise FormatError(f"'{str(sequences)[:20]}': no such file; to predict a sequence given as a string, "
                              "pass a list: predict(['MKV...'])")
        return parse_fasta(sequences, allow_nucleotide=allow_nucleotide)[0]
    pairs = _pairs(sequences)
    if not pairs:
        raise FormatError(f"{SOURCE}: no sequences given")
    return parse_records(pairs, SOURCE, allow_nucleotide=allow_nucleotide)[0]


class Predictor:
    """A loaded model (or several, averaged), reused across `predict` calls.

    `model`: a bundled name ("default"), a checkpoint path, or several joined by commas (averaged).
    `device`: "cpu" (default), "cuda", "cuda:N" or "auto".
    """

    def __init__(self, model: str = "default", device: str = "cpu", max_tokens: int = 32768):
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        self.model, self.max_tokens = model, max_tokens
        self.device = resolve_device(device)
        self.models, ckpt = load_predictor(model, self.device)
        self.features = ckpt["features"]["name"]

    def __repr__(self) -> str:
        return f"Predictor(model={self.model!r}, device='{self.device}', members={len(self.models)})"

    def read(self, sequences, *, allow_nucleotide: bool = False) -> list[Protein]:
        """Validated proteins (see `read_proteins`); raises FormatError naming the record and position."""
        return read_proteins(sequences, allow_nucleotide)

    def predict_proteins(self, proteins: list[Protein], *, profiles: str | Path | None = None,
                         progress: bool = False) -> list[Prediction]:
        """Predictions of validated proteins (from `read`), in their order, in token-budget length batches."""
        check_profiles(proteins, self.features, str(profiles) if profiles else None)
        return predict_proteins(proteins, self.models, self.features, self.device, self.max_tokens, progress)

    def predict(self, sequences, *, profiles: str | Path | None = None, allow_nucleotide: bool = False,
                progress: bool = False) -> list[Prediction]:
        """Predictions in input order. `profiles`: a folder of ID.pssm / ID.hhm, for profile models."""
        return self.predict_proteins(self.read(sequences, allow_nucleotide=allow_nucleotide), profiles=profiles,
                                     progress=progress)


def predict(sequences, model: str = "default", device: str = "cpu", **options) -> list[Prediction]:
    """Load `model` on `device` and predict `sequences` (see `read_proteins` for the accepted forms;
    `options` go to `Predictor.predict`). To predict repeatedly, keep a `Predictor` instead."""
    return Predictor(model, device).predict(sequences, **options)


def write(predictions: list[Prediction], path: str | Path | None = None, format: str = "ss2") -> None:
    """Write predictions as `ss-predict -f FORMAT -o PATH` would (None or '-': standard output;
    a path ending in '/' or an existing folder: one file per record)."""
    if format not in FORMATS:
        raise ValueError(f"format '{format}' is not one of {', '.join(FORMATS)}")
    write_predictions(predictions, format, None if path is None else str(path))
