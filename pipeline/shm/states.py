"""Process and stream states as stored in the status board (int32 columns).

Zero is the state of a freshly created (zero-filled) board row: a process not started yet,
a stream not opened yet.
"""

from __future__ import annotations

from enum import IntEnum


class ProcessState(IntEnum):
    """Lifecycle of a child process; written by the supervisor only. The transitions allowed
    between them are in supervisor/machine.py."""

    STOPPED = 0  # not running: not started yet, finished (a file ended), or stopped on purpose
    STARTING = 1  # spawned, not yet healthy for `supervisor_startsecs` (models may be loading)
    RUNNING = 2  # heartbeating, healthy since it started
    BACKOFF = 3  # exited or hung; waiting out the restart delay
    STOPPING = 4  # asked to stop (SIGTERM sent), not reaped yet
    FATAL = 5  # too many restarts inside the window, or an exit code a restart cannot fix
    OFFLINE = 6  # a camera whose source can never work as configured; never restarted


class StreamState(IntEnum):
    """State of a camera's video source; written by the camera process."""

    OFFLINE = 0  # not opened (or the camera process is not running)
    CONNECTING = 1  # first open in progress
    STREAMING = 2  # frames arriving
    STALLED = 3  # open, but no frame for longer than the stall timeout
    RECONNECTING = 4  # reopening after a stall or a read failure
    ENDED = 5  # a finite source (file) reached its end
    AUTH_FAILED = 6  # the server rejected the credentials (401/403); retried slowly
