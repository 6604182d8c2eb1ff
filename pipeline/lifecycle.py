"""What every child process shares: exit codes the supervisor acts on, and stop signals."""

from __future__ import annotations

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
    """Set by a signal handler, read by the work loop.

    A plain attribute, not a threading.Event: Event.set() takes a lock, and a handler that
    interrupts the main thread while it holds that lock would deadlock.
    """

    def __init__(self) -> None:
        self.requested = False


def install_stop_signals() -> StopFlag:
    """SIGTERM asks this child to finish cleanly; SIGINT is left to the supervisor.

    Ctrl-C reaches the whole foreground process group; only the supervisor decides what it
    means (first: drain and stop; second: force), so children ignore it.
    """
    stop = StopFlag()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return stop
