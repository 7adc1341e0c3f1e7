"""User-facing errors: one class, one line, no traceback at the command line.

Raise :class:`SowcastError` for anything a user can fix (bad path, wrong units, a grid that
does not match). The CLI prints ``sowcast: error: <message>`` and exits with status 2.
Programming errors stay ordinary exceptions and keep their tracebacks.
"""


class SowcastError(Exception):
    """A problem with the user's input or configuration, stated in one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
