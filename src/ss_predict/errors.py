"""Errors a user can cause. The CLI prints their message on one line and exits with status 2."""


class UserError(Exception):
    """A problem with the user's input, files or configuration (never a bug in ss-predict)."""


class FormatError(UserError):
    """A data file that cannot be read: the message names the file and the record or line."""
