"""The one prediction path: load models once, validate input, predict in windows of records (token-budget
length batches inside each), write in input order. `ss-predict`, the Python API and the server all use it.

A run over a FASTA file reads it twice: a cheap first pass checks every record (so a bad record anywhere
stops the run before anything is written) and plans the windows; the second pass predicts them. Memory holds
one window (`window_records` records, at most `window_residues` residues unless one chain is longer),
whatever the size of the input. Standard input cannot be read twice: its records are checked as they come.
"""
from __future__ import annotations

import os
import signal
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import FormatError, Terminated, UserError
from ..data.features import uses_profile
from ..data.formats.fasta import FastaRecords, iter_fasta_proteins, iter_proteins
from ..core.files import STDIO, display_name, refuse_input_as_output
from ..core.names import file_name
from ..core.records import Protein
from .result import Prediction
from .memory import bound_heap, release_freed_memory
from .plan import checked_file_names, scan_fasta, valid_proteins, windows_of
from .renderers import FORMATS, format_problem
from .writers import check_output, check_records, is_folder_output, open_sink

SOURCE = "sequences"  # names Python input in error messages, as a path names a file
WINDOW_RECORDS, WINDOW_RESIDUES = 1000, 500_000


@dataclass(frozen=True)
class Shard:
    """Part `index` (1-based) of `count` contiguous, residue-balanced parts of the input."""
    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            i, n = (int(v) for v in str(text).split("/"))
        except ValueError:
            raise UserError(f"--shard '{text}': give I/N, e.g. 3/10 for the third of ten parts") from None
        if not 1 <= i <= n:
            raise UserError(f"--shard '{text}': I must be between 1 and N")
        return cls(i, n)

    def split(self, rank: int, world: int) -> "Shard":
        """Rank `rank` of `world` processes takes its part of this shard."""
        return Shard((self.index - 1) * world + rank + 1, self.count * world)

    def owns(self, windows: list[tuple[int, int]]) -> list[bool]:
        """Which windows fall in this part: a window goes to the part holding its middle residue."""
        total = sum(r for _, r in windows) or 1
        owned, before = [], 0
        for _, r in windows:
            part = min(self.count - 1, (2 * before + r) * self.count // (2 * total))
            owned.append(part == self.index - 1)
            before += r
        return owned


def _pairs(sequences) -> list[tuple[str, str]]:
    """(id, sequence) pairs from strings (ids seq1, seq2, ...), pairs, a mapping or Biopython SeqRecords. Ids
    are kept as given (check_record refuses one that is not a string, empty or not one line, naming the record)."""
    if isinstance(sequences, Mapping):
        return list(sequences.items())
    if isinstance(sequences, (bytes, bytearray)):
        raise TypeError(f"sequences: got {type(sequences).__name__}; give a FASTA path or a list of sequence "
                        "strings (decode the bytes first)")
    if not isinstance(sequences, Iterable):
        raise TypeError(f"sequences: expected a FASTA path or a list of sequences, got {type(sequences).__name__}")
    pairs = []
    for n, item in enumerate(sequences, start=1):
        if isinstance(item, str):
            pairs.append((f"seq{n}", item))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((item[0], item[1]))
        elif hasattr(item, "id") and hasattr(item, "seq"):  # Bio.SeqRecord.SeqRecord
            pairs.append((item.id, str(item.seq)))
        else:
            raise TypeError(f"sequences: item {n} is a {type(item).__name__}; give sequence strings, "
                            "(id, sequence) pairs or SeqRecords")
    return pairs


def _is_path(sequences) -> bool:
    return isinstance(sequences, (str, Path)) or hasattr(sequences, "__fspath__")


def _streamed(source) -> bool:
    """True for input that can be read only once: standard input, or a path that is a pipe or device
    (`<(zcat x.gz)`, /dev/stdin, a FIFO); a run reads a regular file twice (check, then predict)."""
    if str(source) == STDIO:
        return True
    try:
        mode = os.stat(source).st_mode
    except (OSError, ValueError):
        return False  # (reading it names the problem)
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _check_path(sequences) -> None:
    text = str(sequences)
    if text != STDIO and not Path(text).exists() and not Path(text).suffix and text.isalpha():
        raise FormatError(f"'{text[:20]}': no such file; to predict a sequence given as a string, "
                          "pass a list: predict(['MKV...'])")


def iter_input(sequences, *, allow_nucleotide: bool = False, skip_invalid: bool = False,
               problems: list[str] | None = None) -> Iterator[Protein]:
    """Validated proteins, lazily, of any input form `Predictor.read` takes: a FASTA file's ids are its headers'
    first words; ids given in Python (pairs, keys, SeqRecords) are kept whole."""
    if _is_path(sequences):
        _check_path(sequences)
        return iter_fasta_proteins(sequences, skip_invalid, allow_nucleotide, problems)
    pairs = _pairs(sequences)
    if not pairs:
        raise FormatError(f"{SOURCE}: no sequences given")
    return iter_proteins(pairs, SOURCE, skip_invalid, allow_nucleotide, problems,
                         whole_ids=not isinstance(sequences, FastaRecords))


class _Terminated(Exception):
    """SIGTERM during a run: handled like Ctrl-C (partial output kept for --resume)."""


_NOT_SET = object()


def _catch_sigterm():
    """Turn SIGTERM into `_Terminated` for the length of a run; return the handler to put back (or _NOT_SET
    where signals cannot be set: not the main thread, e.g. inside a server)."""
    def on_term(signum, frame):
        raise _Terminated()
    try:
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:
        return _NOT_SET
    return signal.SIG_DFL if previous is None else previous


class Predictor:
    """A loaded model (or several, averaged), reused across calls.

    `model`: a bundled name ("default"), a checkpoint path, or several joined by commas (averaged).
    `device`: "cpu" (default), "cuda", "cuda:N" or "auto". `max_tokens`: residues per batch. A chain longer
    than `segment` residues (default inference.engine.SEGMENT, 65,536) is predicted in segments of at most that
    many residues, each seeing `overlap` (OVERLAP, 2,048) residues of context on either side.
    """

    def __init__(self, model: str = "default", device: str = "cpu", max_tokens: int = 32768,
                 window_records: int = WINDOW_RECORDS, window_residues: int = WINDOW_RESIDUES,
                 segment: int | None = None, overlap: int | None = None):
        from ..checkpoint.loading import load_models, parse_model_spec
        from ..inference.engine import OVERLAP, SEGMENT, resolve_device

        bound_heap()  # large tensors mapped and unmapped whole: flat memory over any number of windows

        segment, overlap = SEGMENT if segment is None else segment, OVERLAP if overlap is None else overlap
        for name, v in (("max_tokens", max_tokens), ("window_records", window_records),
                        ("window_residues", window_residues), ("segment", segment), ("overlap", overlap)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must be a whole number, got {type(v).__name__} {v!r}")
            if v < (0 if name == "overlap" else 1):
                raise ValueError(f"{name} must be at least {0 if name == 'overlap' else 1}, got {v}")
        if 2 * overlap >= segment:
            raise ValueError(f"segment ({segment}) must be more than twice the overlap ({overlap})")
        self.segment, self.overlap = int(segment), int(overlap)
        if model is None:
            raise TypeError("model: expected a bundled name or checkpoint path (str), got None")
        parse_model_spec(model)  # an empty or ',' spec is a one-line error before anything loads
        self.model, self.max_tokens = model, int(max_tokens)
        self.window_records, self.window_residues = int(window_records), int(window_residues)
        self.device = resolve_device(device)
        self.loaded = load_models(model, self.device)
        self.models, self.features = self.loaded.models, self.loaded.features
        self.tasks = tuple(self.loaded.tasks)  # what the model predicts beside the 8 states (models.base.TASKS)

    def __repr__(self) -> str:
        return f"Predictor(model={self.model!r}, device='{self.device}', members={len(self.models)})"

    # ------------------------------------------------------------ input

    def read(self, sequences, *, allow_nucleotide: bool = False, skip_invalid: bool = False,
             problems: list[str] | None = None) -> list[Protein]:
        """Validated proteins of a FASTA path ('-': standard input; gzip read transparently), a list of sequence
        strings, (id, sequence) pairs, an {id: sequence} mapping or SeqRecords; raises FormatError naming the
        record and position (with skip_invalid, bad records go to `problems` instead)."""
        return list(iter_input(sequences, allow_nucleotide=allow_nucleotide, skip_invalid=skip_invalid,
                                   problems=problems))

    # ------------------------------------------------------------ prediction

    def predict_proteins(self, proteins: list[Protein], *, profiles: str | Path | None = None,
                         progress=None) -> list[Prediction]:
        """Predictions of validated proteins, in their order, in token-budget length batches. `progress`: a
        tqdm bar to advance by residues (or True for one of its own)."""
        from tqdm import tqdm

        from ..data.batching import EncodedSet
        from ..inference.engine import calibrated, predict_sets, task_values

        if not proteins:
            return []
        more = self.tasks != ("ss8",)
        self._attach_profiles(proteins, profiles)
        data = EncodedSet(proteins, self.features)
        if progress is True:
            with tqdm(total=int(data.lengths.sum()), unit="res", file=sys.stderr) as bar:
                probs = predict_sets(self.models, data, self.device, self.max_tokens, progress=bar,
                                     segment=self.segment, overlap=self.overlap, tasks=more)
        else:
            probs = predict_sets(self.models, data, self.device, self.max_tokens,
                                 progress=None if progress is None or progress is False else progress,
                                 segment=self.segment, overlap=self.overlap, tasks=more)
        preds = [Prediction(p.id, p.sequence, *calibrated(pr, self.models),
                            **(task_values(pr, self.tasks) if more else {})) for p, pr in zip(proteins, probs)]
        for pred in preds:
            if not (np.isfinite(pred.p8).all() and np.isfinite(pred.p3).all()):
                raise UserError(f"the model gave non-finite probabilities for record '{pred.id}': its weights "
                                "are damaged; nothing is written")
        return preds

    def _attach_profiles(self, proteins: list[Protein], profiles) -> None:
        if uses_profile(self.features):
            if not profiles:
                raise UserError("this model needs profiles: give --profiles DIR with ID.pssm or ID.hhm per record")
            from ..data.profiles import attach_profiles
            attach_profiles(proteins, str(profiles))

    def _warn_profiles(self, profiles) -> None:
        if profiles and not uses_profile(self.features):
            print("[ss-predict] warning: the model is sequence-only; --profiles is ignored", file=sys.stderr)

    def predict_iter(self, sequences, *, profiles: str | Path | None = None, allow_nucleotide: bool = False,
                     progress: bool = False) -> Iterator[Prediction]:
        """Predictions in input order, window by window: a FASTA file of any size in bounded memory (it is
        checked whole first, so a bad record raises before the first prediction is yielded)."""
        self._warn_profiles(profiles)
        if _is_path(sequences) and not _streamed(sequences):
            _check_path(sequences)
            scan = scan_fasta(sequences, False, allow_nucleotide, None, self.window_records, self.window_residues)
            source = valid_proteins(sequences, False, allow_nucleotide)
        else:
            source = iter_input(sequences, allow_nucleotide=allow_nucleotide)
        for window in windows_of(source, self.window_records, self.window_residues):
            yield from self.predict_proteins(window, profiles=profiles, progress=progress or None)
            release_freed_memory()  # the window's pages back to the system (memory.py)

    def predict(self, sequences, *, profiles: str | Path | None = None, allow_nucleotide: bool = False,
                progress: bool = False) -> list[Prediction]:
        """Predictions in input order. `profiles`: a folder of ID.pssm / ID.hhm, for profile models."""
        proteins = self.read(sequences, allow_nucleotide=allow_nucleotide)
        self._warn_profiles(profiles)
        return self.predict_proteins(proteins, profiles=profiles, progress=progress or None)

    # ------------------------------------------------------------ a whole run: input file -> output

    def run(self, source: str, output: str | None = None, fmt: str = "ss2", *, profiles: str | None = None,
            skip_invalid: bool = False, allow_nucleotide: bool = False, resume: bool = False,
            shard: Shard | None = None, rank: int = 0, world: int = 1, progress: bool = False) -> dict:
        """Predict the FASTA file `source` ('-': standard input) into `output` (None / '-': standard output, a
        file, or a folder ending in '/'), streaming window by window; see `writers` for resume and sharding.
        Returns counts of what was done."""
        from tqdm import tqdm

        if why := format_problem(fmt, self.tasks):
            raise UserError(why)
        check_output(output, fmt)
        shard = Shard.parse(shard) if isinstance(shard, str) else shard or Shard()
        if world > 1:
            shard = shard.split(rank, world)
        stdin = _streamed(source)  # standard input, a pipe or a device: read once, checked as it comes
        if stdin and (resume or shard.count > 1):
            what = "standard input" if str(source) == STDIO else f"{source} (a pipe or device)"
            raise UserError(f"{'--resume' if resume else '--shard / torchrun'} needs an input file: {what} "
                            "cannot be read twice")
        if resume and output in (None, STDIO):
            raise UserError("--resume needs -o FILE or -o DIR/: standard output cannot be resumed")
        self._warn_profiles(profiles)
        if uses_profile(self.features) and not profiles:
            raise UserError("this model needs profiles: give --profiles DIR with ID.pssm or ID.hhm per record")
        folder = output not in (None, STDIO) and is_folder_output(output)
        if not stdin and not folder:
            refuse_input_as_output(output, [source], "-o", "the predictions")
        def name_rule(rid): return file_name(rid, FORMATS[fmt].extension)
        problems: list[str] = []
        if stdin:
            scan = None
            proteins = iter_input(source, allow_nucleotide=allow_nucleotide, skip_invalid=skip_invalid,
                                  problems=problems)
            if folder:  # names checked as records come (a window and the one after are read before any write)
                proteins = checked_file_names(proteins, display_name(source), name_rule)
        else:
            scan = scan_fasta(source, skip_invalid, allow_nucleotide, name_rule if folder else None,
                              self.window_records, self.window_residues)
            problems = scan.problems
            if scan.records == 0:
                self._report(problems, rank)
                raise UserError(f"{display_name(source)}: no valid records to predict")
            check_records(fmt, scan.records, output)
            proteins = valid_proteins(source, skip_invalid, allow_nucleotide, None, scan.repeats)
        self._report(problems, rank)  # (standard input: its problems come as it is read)
        fingerprint = {"input": scan.sha256 if scan else None, "model": self.loaded.fingerprint(), "format": fmt,
                       "options": {"max_tokens": self.max_tokens, "segment": [self.segment, self.overlap],
                                   "profiles": str(profiles) if profiles else None,
                                   "window": [self.window_records, self.window_residues],
                                   "skip_invalid": skip_invalid, "allow_nucleotide": allow_nucleotide,
                                   "shard": [shard.index, shard.count]},
                       "version": __version__}
        suffix = f".{shard.index}-of-{shard.count}" if shard.count > 1 else ""
        sink = open_sink(fmt, output, fingerprint, journal=not stdin, rank_suffix=suffix)
        done = sink.start(resume)
        owned = shard.owns(scan.windows) if scan else None
        if done and scan is not None:  # the journal's counts must be those of this input's first `done` windows
            expect = sum(n for i, (n, _) in enumerate(scan.windows[:done]) if owned[i])
            if done > len(scan.windows) or getattr(sink, "records", expect) != expect:
                raise UserError(f"--resume: the journal {sink.journal.path} says {done} windows "
                                f"({getattr(sink, 'records', '?')} records) are done, which this input does not "
                                f"have ({expect} records in its first {min(done, len(scan.windows))} windows of "
                                f"{len(scan.windows)}): it is damaged; delete it to start over")
        mine = [w for w, own in zip(scan.windows, owned) if own] if scan else None
        counts = {"records": 0, "residues": 0, "windows": 0, "skipped": len(problems)}
        previous = _catch_sigterm()
        bar = tqdm(total=sum(r for _, r in mine) if scan else None, unit="res", disable=not progress,
                   file=sys.stderr, dynamic_ncols=True)
        step = dict(sink=sink, counts=counts, bar=bar, n_records=sum(n for n, _ in mine) if scan else None,
                    profiles=profiles)
        try:
            if scan is None:
                self._run_stream(proteins, step)
                self._report(problems, rank)
                if not counts["records"]:
                    raise UserError(f"{display_name(source)}: no valid records to predict")
            else:
                self._run_file(proteins, scan, owned, done, step)
            sink.finish()
        except (KeyboardInterrupt, _Terminated) as e:
            bar.close()
            hint = sink.abort(interrupted=True)
            if hint:
                print(f"[ss-predict] interrupted: {hint}", file=sys.stderr)
            if isinstance(e, (_Terminated, Terminated)):  # SIGTERM: the CLI says "terminated", exit status 143
                raise Terminated from e
            raise KeyboardInterrupt from e
        except BaseException:
            bar.close()
            sink.abort(interrupted=False)
            raise
        finally:
            bar.close()
            if previous is not _NOT_SET:
                signal.signal(signal.SIGTERM, previous)
        return counts

    def _run_stream(self, proteins: Iterable[Protein], step: dict) -> None:
        """Records read once (standard input, a pipe), known only as they come: each window is written when the
        next one has been read (or the input has ended), which tells whether the run has several records and
        whether this window is the last."""
        pending, first = None, 0
        for index, window in enumerate(windows_of(proteins, self.window_records, self.window_residues)):
            if pending is not None:
                self._write(*pending, several=True, last=False, **step)
            pending, first = (index, window, first), first + len(window)
        if pending is not None:
            self._write(*pending, several=first > 1, last=True, **step)

    def _run_file(self, proteins: Iterable[Protein], scan, owned: list[bool], done: int, step: dict) -> None:
        """The second pass over a file `scan_fasta` planned: each window of this shard is written as it comes;
        those a resumed run had done are skipped (a folder's files of them checked, not trusted)."""
        first, last = 0, len(scan.windows) - 1
        for index, window in enumerate(windows_of(proteins, self.window_records, self.window_residues)):
            start, first = first, first + len(window)
            if not owned[index]:
                continue
            if index < done:
                if step["sink"].missing(window):
                    step["sink"].rewrite(self.predict_proteins(window, profiles=step["profiles"]))
                continue
            self._write(index, window, start, several=scan.records > 1, last=index == last, **step)

    def _write(self, index, window, first, several, last, sink, counts, bar, n_records, profiles) -> None:
        """The step both paths share: predict one window, write it, count it, give its memory back."""
        preds = self.predict_proteins(window, profiles=profiles, progress=bar)
        sink.write(index, preds, first, several, last)
        counts["records"] += len(preds)
        counts["residues"] += sum(len(p.sequence) for p in preds)
        counts["windows"] += 1
        bar.set_postfix_str(f"{counts['records']:,}" + (f"/{n_records:,}" if n_records else "") + " records",
                            refresh=False)
        del preds, window
        release_freed_memory()  # the window's pages back to the system (memory.py)

    @staticmethod
    def _report(problems: list[str], rank: int) -> None:
        for msg in problems if rank == 0 else []:
            print(f"skipped: {msg}", file=sys.stderr)
