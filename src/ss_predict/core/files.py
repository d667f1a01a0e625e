"""Reading inputs and writing outputs without surprises.

Outputs: a regular file is written whole or not at all (a temporary file in the target folder, then
an atomic rename). A file replaced keeps its permissions (and owner and group where allowed); its other
hard links, if any, keep the old content (a note says so). A symbolic link is followed and its target
replaced that way (the link stays). Devices, FIFOs and sockets (`/dev/null`, a named pipe) and the caller's
own descriptors (`/dev/stdout`, `/dev/fd/N`, `/proc/...`) are written through, never replaced; `-` is
standard output.
Inputs: `-` is standard input and gzip data is decompressed transparently.
Every failure the user can fix is a `UserError` naming the path.
"""
from __future__ import annotations

import gzip
import os
import stat
import sys
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path

from ..errors import FormatError, UserError

STDIO = "-"
# Paths that name a descriptor someone else opened (e.g. a shell redirection): written through, never replaced.
_DESCRIPTOR_PATHS = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/")


def display_name(path: str | Path) -> str:
    return "standard input" if str(path) == STDIO else str(path)


def _why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def _write_through(path: str | Path) -> bool:
    """True for an existing non-regular target (device, FIFO, socket) or a descriptor path."""
    if os.path.abspath(path).startswith(_DESCRIPTOR_PATHS):
        return True
    try:
        mode = os.stat(path).st_mode  # follows symbolic links
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise UserError(f"cannot write {path}: a parent of it is a file, not a folder") from None
    except OSError as e:
        raise UserError(f"cannot write {path}: {_why(e)}") from None
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_writable_file(path: str | Path) -> None:
    """Fail early, before a long computation, if `path` (a file to create or replace) cannot be written."""
    if str(path) == STDIO or _write_through(path):
        if str(path) != STDIO and not os.access(path, os.W_OK):
            raise UserError(f"cannot write {path}: permission denied")
        return
    real = Path(os.path.realpath(path))
    if real.is_dir():
        raise UserError(f"cannot write {path}: it is a folder (end the path with / for one file per record)")
    folder = real.parent
    while not folder.exists():  # the nearest existing ancestor decides whether the folders can be made
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: folder {folder} is read-only or not writable by you")


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one existing file (through symbolic links, hard links or another spelling)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # (either missing: not the same file)
        return False


def refuse_input_as_output(output: str | Path | None, inputs, option: str, what: str) -> None:
    """Refuse an output that is one of the inputs, before anything is read: writing it would replace the input.
    One line: "`option` OUT is the input file IN: `what` would replace it; give another `option`"."""
    if output is None or str(output) == STDIO:
        return
    for source in inputs:
        if str(source) != STDIO and same_file(source, output):
            raise UserError(f"{option} {output} is the input file {source}: {what} would replace it; give "
                            f"another {option}")


def check_writable_folder(folder: Path, what: str = "output folder") -> None:
    """Create `folder` and a scratch file in it, or raise one line naming the folder and the way out."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test."):
            pass
    except OSError as e:
        raise UserError(f"cannot write the {what} {folder} ({e.strerror or e}): set paths.output_dir=DIR "
                        "(or SS_OUTPUT_DIR) to a writable folder") from None


def _regular_file(path: Path) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def take_over(tmp: str | Path, target: Path, path: str | Path) -> None:
    """Give the new file the permissions of the one it replaces (and its owner and group where we may),
    or the usual 0666 & ~umask for a new file (mkstemp makes 0600). A file with other hard links is still
    replaced by a new one: those links keep the old content (say so)."""
    old = _regular_file(target)
    if old is None:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        return
    if (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
        for uid in (old.st_uid, -1):  # another owner needs privileges; our own group choice does not
            try:
                os.chown(tmp, uid, old.st_gid)
                break
            except OSError:
                pass
    os.chmod(tmp, stat.S_IMODE(old.st_mode))  # after chown, which may clear set-id bits
    if old.st_nlink > 1:
        print(f"note: {path} had {old.st_nlink} hard links: it is replaced by a new file, the other "
              f"{old.st_nlink - 1} keep the old content", file=sys.stderr)


@contextmanager
def atomic_path(path: str | Path):
    """Yield the path to write for `path`; the result appears there only if the block succeeds.

    Regular files (and symbolic links, whose target is replaced): a temporary file beside the target,
    renamed onto it at the end. Devices, FIFOs and descriptor paths: `path` itself (written through).
    OSErrors (read-only folder, full disk, a parent that is a file) become one-line UserErrors.
    """
    if str(path).endswith(("/", os.sep)):  # Path() would drop the slash and write a file `x` for `x/`
        raise UserError(f"cannot write {path}: the path ends in /, which names a folder; give a file name")
    if _write_through(path):
        try:
            yield Path(path)
        except OSError as e:
            raise UserError(f"cannot write {path}: {_why(e)}") from None
        return
    target = Path(os.path.realpath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"cannot write {path}: a parent of it is a file, not a folder") from None
    except OSError as e:
        raise UserError(f"cannot write {path}: {_why(e)}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        take_over(tmp, target, path)
        os.replace(tmp, target)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise UserError(f"cannot write {path}: {_why(e)}") from None
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """`text` into `path` whole or not at all (written through to devices, FIFOs, descriptors)."""
    with atomic_path(path) as tmp:
        with open(tmp, "a" if tmp == Path(path) else "w") as fh:  # "a": never truncate a descriptor's file
            fh.write(text)


def atomic_write_bytes(path: str | Path, data: bytes, sync: bool = False) -> None:
    """`data` into `path` whole or not at all; `sync`: on disk (fsync) before the rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "ab" if tmp == Path(path) else "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())


def write_through_target(path: str | Path) -> bool:
    """True where `path` is written through rather than replaced (a device, FIFO, socket or descriptor path)."""
    return _write_through(path)


def discard_stdout() -> None:
    """Point descriptor 1 at /dev/null, so that the interpreter's last flush cannot fail (again)."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):  # not a real descriptor (e.g. captured in tests)
        pass


def write_stdout(text: str) -> None:
    """Write and flush `text` to standard output; a failure (full disk, closed descriptor) is a UserError."""
    if sys.stdout is None:
        raise UserError("standard output is closed; give -o FILE")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        discard_stdout()
        raise UserError(f"cannot write to standard output: {_why(e)}") from None


def read_input_bytes(path: str | Path) -> bytes:
    """The bytes of a file, or of standard input for '-', gunzipped if they are gzip data."""
    name = display_name(path)
    if str(path) == STDIO:
        data = sys.stdin.buffer.read()
    else:
        p = Path(path)
        if p.is_dir():
            raise FormatError(f"{name}: is a folder; give a file (or - for standard input)")
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise FormatError(f"{name}: file not found") from None
        except OSError as e:
            raise FormatError(f"{name}: cannot read ({_why(e)})") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise FormatError(f"{name}: damaged gzip data ({e})") from None
    return data


def read_input_text(path: str | Path) -> str:
    """`read_input_bytes` decoded as UTF-8 text; binary data is a FormatError naming the byte."""
    name, data = display_name(path), read_input_bytes(path)
    if b"\x00" in data:
        raise FormatError(f"{name}: binary data, not a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{name}: not a text file (byte {e.start} is not UTF-8)") from None
