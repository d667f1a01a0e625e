"""Errors a user can cause. The CLI prints their message on one line and exits with status 2."""


class UserError(Exception):
    """A problem with the user's input, files or configuration (never a bug in ss-predict)."""


class FormatError(UserError):
    """A data file that cannot be read: the message names the file and the record or line."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a `kill`, a scheduler's time limit), raised like Ctrl-C so that the same clean-up runs: temporary
    files are removed, ss-train saves last.pt. The CLI then exits with status 143."""
