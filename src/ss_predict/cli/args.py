"""What every command shares: the one-line argument parser (its number types are config/rules.py's `Rule.arg`),
the path type, and `guarded`, which turns user errors, SIGTERM, Ctrl-C and a closed pipe into one line and an
exit status."""
from __future__ import annotations

import argparse
import contextlib
import functools
import signal
import sys
import threading

from ..core.files import discard_stdout
from ..errors import Terminated, UserError, is_out_of_memory



def fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def guarded(fn):
    """Run a CLI body: user errors become one line on stderr and exit status 2; SIGTERM is handled as Ctrl-C
    is (clean-up runs, nothing half-written is left) and ends with status 143. Out of memory (where no record
    is named already) is one line and status 2 too."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with _sigterm_as_interrupt():
                return fn(*args, **kwargs)
        except UserError as e:
            fail(str(e))
        except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
            discard_stdout()
            sys.exit(0)
        except Terminated:
            print("terminated", file=sys.stderr)
            sys.exit(128 + signal.SIGTERM)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            fail("out of memory: free memory, or ask for less at once (a smaller --max-tokens or --window for "
                 "ss-predict, trainer.max_tokens for ss-train, max_tokens for ss-eval)")
    return wrapper


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While the body runs, SIGTERM raises errors.Terminated (a KeyboardInterrupt). Left alone off the main
    thread, where it is ignored (SIG_IGN), or already handled (a nested guarded body, a caller's handler)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def on_sigterm(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def path(text: str) -> str:
    """A file or folder path (argparse type): an empty one (an unset shell variable?) is refused, not read as '.'."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the path is empty (an unset shell variable?)")
    return text


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (and exit status 2) instead of the usage block."""

    def error(self, message: str) -> None:
        fail(f"{message} (see {self.prog} --help)")
