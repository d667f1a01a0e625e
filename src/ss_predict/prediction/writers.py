"""Where a prediction run's records go, window by window, in input order: standard output, one file, or one
file per record in a folder. Memory holds one window; the output grows as the run goes.

A regular file is written to a hidden partial file beside it (`.NAME.ss-predict-part`), with a small journal
(`.NAME.ss-predict-resume`: what the run is, how many windows and bytes are complete), and renamed onto NAME
at the end, so NAME is never half-written. A killed run (SIGKILL, power loss, Ctrl-C) leaves both, and
`--resume` continues it: the partial file is checked against the journal (its size and the SHA-256 of its
complete windows: a part changed since is refused), cut back to the last complete window and the rest
predicted, so the result is byte-identical to an uninterrupted run. The partial file is locked (flock) while
a run writes it: a second run to the same file, or `--resume` beside a live run, is refused. A folder keeps
its journal inside it (`DIR/.ss-predict-resume`); each record's file is written whole. Devices, FIFOs and standard output are
written through (they cannot be resumed). Parquet is written as one row group per window: its partial
file holds the windows as Arrow IPC blobs, made into the Parquet file at the end.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import sys
from pathlib import Path

try:
    import fcntl
except ImportError:  # (Windows: no advisory locks; a second run to one file is not detected there)
    fcntl = None

from ..errors import UserError
from ..core.names import file_name
from ..core.files import STDIO, atomic_write_bytes, check_writable_file, take_over, write_stdout, write_through_target
from .result import Prediction
from .renderers import FORMATS, render, render_file

JOURNAL_VERSION = 2  # 2: the SHA-256 of the complete bytes of a partial file


def is_folder_output(out: str) -> bool:
    return out.endswith(("/", "\\")) or os.path.isdir(out)  # (isdir: False, not an error, where unreadable)


def check_output(out: str | None, fmt: str) -> None:
    """Fail before predicting if the output cannot be written (see core.files.check_writable_file)."""
    if out is not None and not out.strip():
        raise UserError("-o is empty (an unset shell variable?): give a file, a folder ending in /, or - for "
                        "standard output")
    if out in (None, STDIO):
        if FORMATS[fmt].kind == "table":
            raise UserError(f"-f {fmt} is a binary format: give -o FILE or -o DIR/, not standard output")
        return
    check_writable_file(Path(out) / "record" if is_folder_output(out) else out)


def check_records(fmt: str, n_records: int, out: str | None) -> None:
    """Refuse, before predicting, what a picture format could not write: several records in one file of a
    format that holds one (PNG), or binary data on a terminal."""
    f = FORMATS[fmt]
    if n_records > 1 and not f.stacks and (out in (None, STDIO) or not is_folder_output(out)):
        raise UserError(f"{n_records} records make {n_records} {fmt.upper()} pictures: give -o DIR/ for one "
                        f"DIR/<id>.{f.extension} each (or -f svg, which stacks them in one picture)")
    if f.binary and out in (None, STDIO) and sys.stdout is not None and sys.stdout.isatty():
        raise UserError(f"a {fmt.upper()} is binary: give -o FILE.{f.extension} (or redirect standard output)")


def _fsync(fh) -> None:
    fh.flush()
    try:
        os.fsync(fh.fileno())
    except OSError:
        pass


class Journal:
    """The small JSON side file of a run: its fingerprint and how far it got (replaced whole each window)."""

    def __init__(self, path: Path, fingerprint: dict):
        self.path, self.fingerprint = path, fingerprint

    def read(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            state = json.loads(self.path.read_text())
            if state.get("version") != JOURNAL_VERSION or not isinstance(state.get("fingerprint"), dict) \
                    or not isinstance(state.get("done", False), bool):
                raise ValueError
            for key in ("windows", "records", "bytes"):  # counts: a damaged one would cut, pad or skip the output
                if not isinstance(state.get(key), int) or isinstance(state[key], bool) or state[key] < 0:
                    raise ValueError
            if state.get("sha256") is not None and not re.fullmatch(r"[0-9a-f]{64}", str(state["sha256"])):
                raise ValueError
        except (OSError, ValueError, AttributeError):
            raise UserError(f"{self.path}: not a readable ss-predict resume journal: delete it to start over") from None
        return state

    def check(self, state: dict, target: str) -> None:
        theirs, ours = state.get("fingerprint", {}), self.fingerprint
        diff = [k for k in ours if theirs.get(k) != ours[k]]
        if diff:
            what = " and ".join({"options": "other options", "version": "another ss-predict version"}.get(
                k, f"another {k}") for k in diff)
            raise UserError(f"--resume: {target} was begun by a run with {what}; give the same input, "
                            f"model and options, or delete {self.path} to start over")

    def write(self, windows: int, records: int, nbytes: int, sha256: str | None = None, done: bool = False) -> None:
        state = {"version": JOURNAL_VERSION, "fingerprint": self.fingerprint, "windows": windows,
                 "records": records, "bytes": nbytes, "sha256": sha256, "done": done}
        atomic_write_bytes(self.path, json.dumps(state, indent=1).encode() + b"\n", sync=True)

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class Sink:
    """Receives the windows of a run in order. `start` returns how many windows are already complete."""
    resumable = False

    def start(self, resume: bool) -> int:
        return 0

    def write(self, index: int, preds: list[Prediction], first: int, several: bool, last: bool) -> None:
        raise NotImplementedError

    def missing(self, proteins) -> bool:
        """On --resume: whether output of these records, from a window the journal counts as done, is gone."""
        return False

    def rewrite(self, preds: list[Prediction]) -> None:
        """Write again the output of records of a done window (`missing` said some is gone)."""
        raise NotImplementedError

    def finish(self) -> None:
        pass

    def abort(self, interrupted: bool) -> str | None:
        """Clean up after a failure; return a line telling how to continue, if the run can be resumed."""
        return None


class StreamSink(Sink):
    """Standard output, or a device / FIFO / descriptor path: written through as the windows come."""

    def __init__(self, fmt: str, path: str | None = None):
        self.fmt, self.path, self.fh = fmt, path, None

    def write(self, index, preds, first, several, last):
        text = render(preds, self.fmt, first, several, last)
        if self.path is None:
            write_stdout(text)
            return
        try:
            if self.fh is None:
                self.fh = open(self.path, "a")  # "a": never truncate a descriptor's file
            self.fh.write(text)
            self.fh.flush()
        except OSError as e:
            raise UserError(f"cannot write {self.path}: {e.strerror or e}") from None

    def finish(self):
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError as e:
                raise UserError(f"cannot write {self.path}: {e.strerror or e}") from None

    def abort(self, interrupted):
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError:
                pass


class FileSink(Sink):
    """One regular file (a symbolic link: its target), through a partial file and a journal (see the module).
    The partial file stays open, locked, from `start` until the output is in place or the run is given up."""
    resumable = True

    def __init__(self, fmt: str, target: str, fingerprint: dict, journal: bool = True):
        self.fmt, self.shown = fmt, target
        self.target = Path(os.path.realpath(target))
        self.part = self.target.with_name(f".{self.target.name}.ss-predict-part")
        self.journal = Journal(self.target.with_name(f".{self.target.name}.ss-predict-resume"), fingerprint)
        self.use_journal, self.fh, self.windows, self.records = journal, None, 0, 0
        self.sha = hashlib.sha256()  # of the bytes of the complete windows in the partial file

    def _open_part(self) -> bool:
        """Open the partial file (made if missing, never cut here) and lock it for this run, or refuse while
        another run holds it. Returns whether it was there before."""
        for _ in range(100):  # (again only where the run that held it renamed it away meanwhile)
            existed = self.part.exists()
            fd = os.open(self.part, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                same = os.path.samestat(os.fstat(fd), os.stat(self.part))
            except BlockingIOError:
                os.close(fd)
                raise UserError(f"{self.shown}: a run is in progress writing it (another ss-predict holds "
                                f"{self.part}): wait for it to end, or give another -o") from None
            except FileNotFoundError:
                same = False
            except OSError:  # a file system without locks: written unguarded, as before
                same = True
            if same:
                self.fh = os.fdopen(fd, "r+b")
                return existed
            os.close(fd)
        raise UserError(f"{self.shown}: its partial file {self.part} keeps being replaced: is another run "
                        "writing it?")

    def _give_up(self, created: bool, error: str) -> None:
        """Leave the partial file as found (remove it if this run made it), unlock it, and refuse with `error`."""
        if created:
            self.part.unlink(missing_ok=True)
        self.fh.close()
        raise UserError(error)

    def start(self, resume: bool) -> int:
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            existed = self._open_part()
        except OSError as e:
            raise UserError(f"cannot write {self.shown}: {e.strerror or e}") from None
        try:
            state = self.journal.read() if self.use_journal else None
        except UserError as e:
            self._give_up(not existed, str(e))
        if state is not None and not resume:
            self._give_up(not existed, f"{self.shown}: an interrupted run left {self.part.name} ({state['records']} "
                          f"records done) beside it: continue it with --resume, or delete {self.part} and "
                          f"{self.journal.path} to start over")
        try:
            if state is None:
                if resume:
                    print(f"[ss-predict] no interrupted run to resume at {self.shown}: predicting every record",
                          file=sys.stderr)
                self.fh.truncate(0)
                return self.windows
            try:
                self.journal.check(state, self.shown)
            except UserError as e:
                self._give_up(not existed, str(e))
            if not existed:
                if state.get("done"):  # complete: renamed into place, only the journal was left
                    self.part.unlink()
                    self.fh.close()
                    self.windows, self.records = -1, state["records"]
                    return state["windows"]
                self._give_up(True, f"--resume: the journal {self.journal.path} is there but its partial file "
                                    f"{self.part} is gone: delete the journal to start over")
            self._check_part(state)
            self.fh.truncate(state["bytes"])
            self.fh.seek(state["bytes"])
            self.windows, self.records = state["windows"], state["records"]
        except OSError as e:
            self.fh.close()
            raise UserError(f"cannot write {self.shown}: {e.strerror or e}") from None
        return self.windows

    def _check_part(self, state: dict) -> None:
        """The partial file must hold the bytes its journal counts, unchanged (their SHA-256): a part cut short,
        or edited, copied over or damaged since, would otherwise end up in the output."""
        size, want = os.fstat(self.fh.fileno()).st_size, state["bytes"]
        if size < want:  # truncate() would pad the output with zero bytes
            self._give_up(False, f"--resume: {self.part} has {size} bytes, fewer than the {want} its journal "
                                 f"{self.journal.path} records: delete both to start over")
        self.fh.seek(0)
        left = want
        while left:
            chunk = self.fh.read(min(left, 1 << 20))
            if not chunk:
                break
            self.sha.update(chunk)
            left -= len(chunk)
        if self.sha.hexdigest() != state.get("sha256"):
            self._give_up(False, f"--resume: {self.part} no longer holds what its journal {self.journal.path} "
                                 f"records (its first {want} bytes changed since): delete both to start over")

    def _bytes(self, preds, first, several, last) -> bytes:
        if FORMATS[self.fmt].kind == "text":
            return render(preds, self.fmt, first, several, last).encode()
        import pyarrow as pa
        buf = io.BytesIO()
        table = FORMATS[self.fmt].render(preds)
        with pa.ipc.new_stream(buf, table.schema) as w:
            w.write_table(table)
        blob = buf.getvalue()
        return struct.pack("<Q", len(blob)) + blob

    def write(self, index, preds, first, several, last):
        try:
            data = self._bytes(preds, first, several, last)
            self.fh.write(data)
            _fsync(self.fh) if self.use_journal else self.fh.flush()
            self.sha.update(data)
            self.windows, self.records = index + 1, self.records + len(preds)
            if self.use_journal:
                self.journal.write(self.windows, self.records, self.fh.tell(), self.sha.hexdigest())
        except OSError as e:
            raise UserError(f"cannot write {self.shown}: {e.strerror or e}") from None

    def finish(self):
        """Put the output in place (the Parquet file made from the partial one), then remove the partial file and
        the journal; the partial file stays locked until then."""
        try:
            if self.windows == -1:  # a resumed run that had already been renamed into place
                self.journal.remove()
                return
            _fsync(self.fh)
            if self.use_journal:
                self.journal.write(self.windows, self.records, self.fh.tell(), self.sha.hexdigest(), done=True)
            done = self._to_parquet() if FORMATS[self.fmt].kind == "table" else self.part
            take_over(done, self.target, self.shown)
            os.replace(done, self.target)
            self.part.unlink(missing_ok=True)
            self.journal.remove()
            self.fh.close()
        except OSError as e:
            raise UserError(f"cannot write {self.shown}: {e.strerror or e}") from None

    def _to_parquet(self) -> Path:
        """The IPC blobs of the partial file, window by window, into a Parquet file beside it (one row group
        each); the partial file is kept until the Parquet file is in place."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        tmp = self.part.with_name(self.part.name + ".parquet")
        writer = None
        with open(self.part, "rb") as fh:
            while head := fh.read(8):
                (n,) = struct.unpack("<Q", head)
                table = pa.ipc.open_stream(fh.read(n)).read_all()
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
        if writer is None:  # an empty shard: an empty table with the schema
            pq.write_table(FORMATS[self.fmt].render([]), tmp)
        else:
            writer.close()
        return tmp

    def abort(self, interrupted):
        keep = interrupted and self.use_journal and self.windows > 0
        owned = self.fh is not None and not self.fh.closed  # (else the files are not this run's to remove)
        if owned and not keep:  # removed while still locked, so that no other run takes them meanwhile
            for p in (self.part, self.part.with_name(self.part.name + ".parquet")):
                p.unlink(missing_ok=True)
            if self.use_journal:
                self.journal.remove()
        if self.fh is not None and not self.fh.closed:
            try:
                self.fh.close()
            except OSError:
                pass
        if keep:
            return (f"{self.records} records written to {self.part}; run the same command with --resume to "
                    "continue")
        return None


class FolderSink(Sink):
    """One file per record (`DIR/<id>.<ext>`, each written whole), and the run's journal inside the folder."""
    resumable = True

    def __init__(self, fmt: str, folder: str, fingerprint: dict, suffix: str = "", journal: bool = True):
        self.fmt, self.folder = fmt, Path(folder)
        self.journal = Journal(self.folder / f".ss-predict-resume{suffix}", fingerprint)
        self.use_journal, self.windows, self.records = journal, 0, 0

    def start(self, resume: bool) -> int:
        state = self.journal.read() if self.use_journal else None
        if state is not None and not resume:
            raise UserError(f"{self.folder}: an interrupted run ({state['records']} records done) left "
                            f"{self.journal.path.name} in it: continue it with --resume, or delete "
                            f"{self.journal.path} to start over")
        if state is not None:
            self.journal.check(state, str(self.folder))
            self.windows, self.records = state["windows"], state["records"]
        elif resume:
            print(f"[ss-predict] no interrupted run to resume in {self.folder}: predicting every record",
                  file=sys.stderr)
        return self.windows

    def _path(self, rid: str) -> Path:
        return self.folder / file_name(rid, FORMATS[self.fmt].extension)

    def write(self, index, preds, first, several, last):
        self.rewrite(preds)
        self.windows, self.records = index + 1, self.records + len(preds)
        if self.use_journal:
            self.journal.write(self.windows, self.records, 0)

    def missing(self, proteins):
        return any(not self._path(p.id).is_file() for p in proteins)  # a file deleted since, or never renamed

    def rewrite(self, preds):
        for p in preds:
            atomic_write_bytes(self._path(p.id), render_file([p], self.fmt))

    def finish(self):
        self.journal.remove()

    def abort(self, interrupted):
        if interrupted and self.use_journal and self.windows > 0:
            return f"{self.records} records written to {self.folder}; run the same command with --resume to continue"
        self.journal.remove()
        return None


class PictureSink(Sink):
    """SVG / PNG into one file or standard output: the records are drawn when the run ends (SVG: stacked in one
    picture; PNG: one record only), so this sink holds them all: for many records write -o DIR/."""

    def __init__(self, fmt: str, out: str | None):
        self.fmt, self.out, self.preds = fmt, out, []

    def write(self, index, preds, first, several, last):
        self.preds.extend(preds)

    def finish(self):
        check_records(self.fmt, len(self.preds), self.out)
        data = render_file(self.preds, self.fmt)
        if self.out in (None, STDIO):
            if sys.stdout is None:
                raise UserError("standard output is closed; give -o FILE")
            try:
                sys.stdout.flush()
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            except BrokenPipeError:
                raise
            except (OSError, AttributeError, ValueError) as e:
                raise UserError(f"cannot write to standard output: {getattr(e, 'strerror', None) or e}") from None
        else:
            atomic_write_bytes(self.out, data)


def open_sink(fmt: str, out: str | None, fingerprint: dict, journal: bool, rank_suffix: str = "") -> Sink:
    """The sink for `-o OUT` (None or '-': standard output; ending in '/' or a folder: one file per record)."""
    if out not in (None, STDIO) and is_folder_output(out):
        return FolderSink(fmt, out, fingerprint, rank_suffix, journal)
    if FORMATS[fmt].kind == "picture":
        return PictureSink(fmt, out)
    if out in (None, STDIO):
        return StreamSink(fmt)
    if write_through_target(out):
        if FORMATS[fmt].kind == "table":
            raise UserError(f"-f {fmt} cannot be written through to {out}: give a regular file")
        return StreamSink(fmt, out)
    return FileSink(fmt, out, fingerprint, journal)
