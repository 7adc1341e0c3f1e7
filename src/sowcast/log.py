"""The ``sowcast`` logger: levels for operators, one stderr handler, journald priorities.

The command line sets it up once (:func:`configure`, from ``-v``/``-q``); a command's function
called directly (tests, the demo's steps) gets the same handler at its first :func:`get_logger`.

Level: ``-v`` gives DEBUG, ``-q`` WARNING (``-qq`` ERROR); without them $SOWCAST_LOG_LEVEL (a
name: DEBUG, INFO, WARNING, ERROR); else INFO. A level chosen by flag is exported in
$SOWCAST_LOG_LEVEL so the processes a command starts (the service's steps, the demo's
torchrun) log at the same level.

Lines go to stderr, without timestamps:

* ``sowcast serve: message``, ``sowcast bulletin: warning: message`` (logger ``sowcast.serve``,
  ``sowcast.bulletin``; a component may register its own prefix, e.g. ``[demo]``);
* under systemd, when stderr is the journal (JOURNAL_STREAM names stderr's device:inode,
  systemd.exec(5)), each line starts with its syslog priority ``<6>``, ``<4>``, ... as in
  sd-daemon(3); journald takes it as the entry's priority, so ``journalctl -p warning`` filters.

Errors a command ends with are not logged: they stay the one line ``sowcast: error: ...``
printed by :mod:`sowcast.cli.main`, whatever the level.
"""

from __future__ import annotations

import logging
import os
import sys

from sowcast.errors import SowcastError

ROOT = "sowcast"
LEVEL_VARIABLE = "SOWCAST_LOG_LEVEL"
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
          "CRITICAL": logging.CRITICAL}
# sd-daemon(3): SD_CRIT "<2>", SD_ERR "<3>", SD_WARNING "<4>", SD_INFO "<6>", SD_DEBUG "<7>".
SYSLOG_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}
_PREFIXES: dict[str, str] = {}


def get_logger(component: str, prefix: str | None = None) -> logging.Logger:
    """The logger ``sowcast.<component>``; its lines start with ``prefix`` (default
    ``"sowcast <component>: "``)."""
    name = f"{ROOT}.{component}"
    if prefix is not None:
        _PREFIXES[name] = prefix
    if not any(isinstance(h, StderrHandler) for h in logging.getLogger(ROOT).handlers):
        try:  # a command's function called directly (a test, the demo) logs like the command line
            configure()
        except SowcastError:  # a bad $SOWCAST_LOG_LEVEL: the command line says so; here INFO
            configure_level(logging.INFO)
    return logging.getLogger(name)


def level_from(verbosity: int = 0, environ: dict | None = None) -> int:
    """-q/-v count (verbose minus quiet) -> level; 0 defers to $SOWCAST_LOG_LEVEL, then INFO."""
    if verbosity > 0:
        return logging.DEBUG
    if verbosity < 0:
        return logging.WARNING if verbosity == -1 else logging.ERROR
    value = (os.environ if environ is None else environ).get(LEVEL_VARIABLE, "").strip().upper()
    if not value:
        return logging.INFO
    if value not in LEVELS:
        raise SowcastError(f"{LEVEL_VARIABLE}={value.lower()} is not a level; use one of "
                           f"{', '.join(n.lower() for n in LEVELS)}")
    return LEVELS[value]


def stderr_is_journal(stream=None) -> bool:
    """True when ``stream`` (stderr) is the journal stream systemd named in $JOURNAL_STREAM."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (AttributeError, OSError, ValueError):  # a captured or closed stream has no descriptor
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


class LineFormatter(logging.Formatter):
    """``<prefix>[warning: |error: ]message``; with ``journal``, ``<N>`` before every line."""

    def __init__(self, journal: bool = False):
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        prefix = _PREFIXES.get(record.name)
        if prefix is None:
            parts = record.name.split(".")
            prefix = " ".join(parts) + ": " if parts[0] == ROOT else f"{ROOT}: {record.name}: "
        word = "error: " if record.levelno >= logging.ERROR else "warning: " if record.levelno >= logging.WARNING else ""
        text = prefix + word + record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if not self.journal:
            return text
        level = max((lv for lv in SYSLOG_PRIORITY if lv <= record.levelno), default=logging.DEBUG)
        return "\n".join(f"<{SYSLOG_PRIORITY[level]}>{line}" for line in text.splitlines())


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest's capture, a redirect), and
    drops a line quietly when stderr is a closed pipe (``sowcast ... 2>&1 | head``)."""

    def __init__(self):
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.setStream; the stream is always sys.stderr
        pass

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            return
        super().handleError(record)


def configure(verbosity: int = 0) -> int:
    """Set the ``sowcast`` logger's level and its one stderr handler (again on each call: the
    last wins); returns the level. A bad $SOWCAST_LOG_LEVEL is a :class:`SowcastError`."""
    level = configure_level(level_from(verbosity))
    if verbosity:
        os.environ[LEVEL_VARIABLE] = logging.getLevelName(level)
    return level


def configure_level(level: int) -> int:
    """Install the one stderr handler on the ``sowcast`` logger at ``level``."""
    logger = logging.getLogger(ROOT)
    for handler in [h for h in logger.handlers if isinstance(h, StderrHandler)]:
        logger.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(LineFormatter(journal=stderr_is_journal()))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return level


def reporter(component: str, callback=None, lines: list[str] | None = None):
    """``say(message, level=logging.INFO)`` for a long step's progress lines: to the logger
    ``sowcast.<component>``, or, where the caller gives ``callback`` (a test, the service), to it
    as plain text, warnings as ``warning: message``; each line also kept in ``lines`` if given."""
    logger = get_logger(component)

    def say(message: str, level: int = logging.INFO) -> None:
        text = f"warning: {message}" if level >= logging.WARNING else message
        if lines is not None:
            lines.append(text)
        if callback is None:
            logger.log(level, message)
        else:
            callback(text)

    return say
