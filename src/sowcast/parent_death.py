"""Children that die with their parent: Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)``.

A training rank started by torchrun, or a chain step started by the service, asks the kernel
to send it SIGTERM when its parent dies, so a ``kill -9`` of torchrun (or of ``sowcast
serve``) does not leave ranks training or steps writing on their own. SIGTERM rather than
SIGKILL: a rank saves and stops as on SLURM's warning, a forecast's state is on disk.

The race (man 2 prctl): a parent that died before the call has already re-parented the
child (to init, or to a subreaper), and no signal will come. So after the call the child
compares ``getppid()`` with the parent it expects and, if that one is gone, sends itself
the signal at once. The service names itself in ``SOWCAST_PARENT_PID`` (the child removes
it from its environment, so its own children do not misread it); a torchrun worker
(``TORCHELASTIC_RUN_ID`` set) takes a parent pid of 1 as torchrun gone.

The signal comes when the parent *thread* that started the child ends: the service starts
steps from its worker thread, which waits for the step, so it outlives the step. Outside
Linux this does nothing (the service's ``step.pid`` clean-up at start-up still applies).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Mapping, MutableMapping

PR_SET_PDEATHSIG = 1          # <linux/prctl.h>
PARENT_ENV = "SOWCAST_PARENT_PID"
TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)`` for this process; False where not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(expected_parent: int | None = None, sig: int = signal.SIGTERM) -> bool:
    """Get ``sig`` when the parent dies; if it is gone already (re-parented: ``getppid()`` is
    not ``expected_parent``, or is 1), send it now. Returns whether the kernel took it."""
    if not set_parent_death_signal(sig):
        return False
    parent = os.getppid()
    if parent == 1 or (expected_parent is not None and parent != expected_parent):
        os.kill(os.getpid(), sig)
    return True


def child_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that should die with this process (``SOWCAST_PARENT_PID``)."""
    return {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}


def die_with_parent_at_start(environ: MutableMapping[str, str] | None = None) -> bool:
    """At a sowcast process's start: die with the parent if it is the service
    (``SOWCAST_PARENT_PID``, then removed) or torchrun (``TORCHELASTIC_RUN_ID``)."""
    environ = os.environ if environ is None else environ
    expected = environ.pop(PARENT_ENV, None)
    if expected is not None:
        try:
            return die_with_parent(int(expected))
        except ValueError:
            return False
    if TORCHRUN_ENV in environ:
        return die_with_parent(None)
    return False
