"""What every child process shares: exit codes the supervisor acts on, and stop signals."""

from __future__ import annotations

import os
import signal
from enum import IntEnum
from types import FrameType


class ExitCode(IntEnum):
    OK = 0  # finished (stop requested, or a file source ended): not restarted
    CRASHED = 1  # unexpected error: restarted by policy
    CONFIG = 2  # bad configuration: never restarted
    MODEL = 3  # the model cannot be loaded or does not fit the site: never restarted
    SOURCE = 4  # the source can never work as configured (e.g. file missing): never restarted


NO_RESTART = frozenset({ExitCode.OK, ExitCode.CONFIG, ExitCode.MODEL, ExitCode.SOURCE})


class StopFlag:
    """Set by a signal handler, read by the work loop; also set when the supervisor is gone.

    A plain attribute, not a threading.Event: Event.set() takes a lock, and a handler that
    interrupts the main thread while it holds that lock would deadlock. A child whose parent
    died (even by SIGKILL) is re-parented, which `os.getppid()` reveals: it stops instead of
    running on unsupervised.
    """

    def __init__(self) -> None:
        self._signalled = False
        self._parent = os.getppid()

    def set(self) -> None:
        self._signalled = True

    @property
    def requested(self) -> bool:
        return self._signalled or os.getppid() != self._parent


def install_stop_signals() -> StopFlag:
    """SIGTERM asks this child to finish cleanly; SIGINT is left to the supervisor.

    Ctrl-C reaches the whole foreground process group; only the supervisor decides what it
    means (first: drain and stop; second: force), so children ignore it.
    """
    stop = StopFlag()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return stop
