"""Errors a user can cause. The CLI prints their message on one line and exits with status 2."""


class UserError(Exception):
    """A problem with the user's input, files or configuration (never a bug in ss-predict)."""


class FormatError(UserError):
    """A data file that cannot be read: the message names the file and the record or line."""


class NucleotideError(FormatError):
    """A record that looks like DNA or RNA. `problem` is the line without advice; the advice (`hint`) names the
    CLI's and the API's option, so a caller that offers neither (the server) words its own."""

    def __init__(self, problem: str, hint: str):
        super().__init__(f"{problem}, {hint}")
        self.problem = problem


class Terminated(KeyboardInterrupt):
    """SIGTERM (a `kill`, a scheduler's time limit), raised like Ctrl-C so that the same clean-up runs: temporary
    files are removed, ss-train saves last.pt. The CLI then exits with status 143."""


class OutOfMemory(UserError):
    """Out of memory while predicting: the message names the record and what to do."""


def is_out_of_memory(e: BaseException) -> bool:
    """Out of memory, as Python (MemoryError), PyTorch's CPU allocator ("DefaultCPUAllocator: can't allocate
    memory") or a GPU ("CUDA out of memory", torch.cuda.OutOfMemoryError; "MPS backend out of memory") says it."""
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and any(
        words in str(e) for words in ("can't allocate memory", "out of memory")))
