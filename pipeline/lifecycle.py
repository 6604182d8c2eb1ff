"""What every child process shares: exit codes the supervisor acts on, and stop signals.

The same codes are the exit status of the whole site (`python -m pipeline.run`):
0 stopped on request (SIGINT, SIGTERM, SIGHUP, --duration) or every source finished;
1 nothing can run: the inference process, or every camera, FATAL after crashing;
2 bad configuration or too little shared memory, nothing was started;
3 the model cannot be loaded or does not fit the site;
4 no camera's source can ever work (every camera OFFLINE, or OFFLINE and finished).
"""

from __future__ import annotations

import os
import signal
from enum import IntEnum
from types import FrameType


class ExitCode(IntEnum):
    OK = 0  # finished (stop requested, or a file source ended): not restarted
    CRASHED = 1  # unexpected error: restarted by policy (site: nothing can run any more)
    CONFIG = 2  # bad configuration: never restarted
    MODEL = 3  # the model cannot be loaded or does not fit the site: never restarted
    SOURCE = 4  # the source can never work as configured (e.g. file missing): never restarted


NO_RESTART = frozenset({ExitCode.OK, ExitCode.CONFIG, ExitCode.MODEL, ExitCode.SOURCE})

# Set by the supervisor's child bootstrap (supervisor/bootstrap.py) to the supervisor's pid.
SUPERVISOR_PID_VARIABLE = "VIGIA_SUPERVISOR_PID"


class StopFlag:
    """Set by a signal handler, read by the work loop; also set when the supervisor is gone.

    A plain attribute, not a threading.Event: Event.set() takes a lock, and a handler that
    interrupts the main thread while it holds that lock would deadlock. A child whose parent
    died (even by SIGKILL) is re-parented, which `os.getppid()` reveals: it stops instead of
    running on unsupervised. The parent is the supervisor's pid as the bootstrap recorded it
    (reading `os.getppid()` here would take the re-parenting init for the parent of a child
    whose supervisor died while it was still importing its modules).
    """

    def __init__(self) -> None:
        self._signalled = False
        recorded = os.environ.get(SUPERVISOR_PID_VARIABLE, "")
        self._parent = int(recorded) if recorded.isdigit() else os.getppid()

    def set(self) -> None:
        self._signalled = True

    @property
    def requested(self) -> bool:
        return self._signalled or os.getppid() != self._parent


def install_stop_signals() -> StopFlag:
    """SIGTERM asks this child to finish cleanly; SIGINT and SIGHUP are left to the supervisor.

    Ctrl-C and a closed terminal reach the whole foreground process group; only the
    supervisor decides what they mean (first: drain and stop in order; second Ctrl-C: force),
    so children ignore them.
    """
    stop = StopFlag()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return stop
