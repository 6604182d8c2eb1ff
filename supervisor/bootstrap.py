"""What every child runs first, before its own entry point (the spawn target).

- SIGINT and SIGHUP are ignored: Ctrl-C and a closed terminal reach the whole foreground
  process group, and only the supervisor decides what they mean. The supervisor spawns with
  both blocked, so that not even a child still importing its modules dies of them.
- Descriptors 1 and 2 become a pipe to the supervisor, which writes what arrives there into
  pipeline.log with the child's tag: OpenCV's and FFmpeg's native messages, and anything
  else native code or Python prints.
- faulthandler is enabled for every thread on that pipe: a hung child that the supervisor
  sends SIGABRT writes the traceback of each of its threads, which lands in pipeline.log.
- Core dumps are off: SIGABRT would otherwise leave a core file per hung child.
- The child stops when the supervisor dies, even by SIGKILL and even while the child is
  still importing its modules: the kernel sends it SIGTERM then (Linux PR_SET_PDEATHSIG),
  and StopFlag compares `os.getppid()` with the supervisor's pid recorded here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import faulthandler
import os
import resource
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from pipeline.lifecycle import SUPERVISOR_PID_VARIABLE, ExitCode

SUPERVISOR_SIGNALS = frozenset({signal.SIGINT, signal.SIGHUP})
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def child_main(
    target: Callable[[Any, Connection], None],
    task: Any,
    log_pipe: Connection,
    output_pipe: Connection,
    supervisor_pid: int,
) -> None:
    """Spawn target of every child: prepare the process, then `target(task, log_pipe)`."""
    for signum in SUPERVISOR_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SUPERVISOR_SIGNALS)
    _terminate_with_parent()
    os.environ[SUPERVISOR_PID_VARIABLE] = str(supervisor_pid)
    if os.getppid() != supervisor_pid:  # it died before the line above: nothing to serve
        sys.exit(int(ExitCode.OK))
    _no_core_dumps()
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(output_pipe.fileno(), 1)
    os.dup2(output_pipe.fileno(), 2)
    output_pipe.close()  # descriptors 1 and 2 now hold the pipe open
    faulthandler.enable(file=sys.stderr, all_threads=True)
    target(task, log_pipe)


def _terminate_with_parent() -> None:
    """SIGTERM when the parent dies (Linux); elsewhere StopFlag's pid check alone."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _no_core_dumps() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
