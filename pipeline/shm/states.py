"""Process and stream states as stored in the status board (int32 columns).

Zero is the state of a freshly created (zero-filled) board row: a process not started yet,
a stream not opened yet.
"""

from __future__ import annotations

from enum import IntEnum


class ProcessState(IntEnum):
    """Lifecycle of a child process; written by the supervisor only."""

    STOPPED = 0  # not running: not started yet, or stopped on purpose
    STARTING = 1  # spawned, no heartbeat yet
    RUNNING = 2  # heartbeating
    BACKOFF = 3  # exited or hung; waiting out the restart backoff
    STOPPING = 4  # asked to stop (SIGTERM sent), not reaped yet
    FATAL = 5  # too many restarts inside the window, or a do-not-restart exit code


class StreamState(IntEnum):
    """State of a camera's video source; written by the camera process."""

    OFFLINE = 0  # not opened (or the camera process is not running)
    CONNECTING = 1  # first open in progress
    STREAMING = 2  # frames arriving
    STALLED = 3  # open, but no frame for longer than the stall timeout
    RECONNECTING = 4  # reopening after a stall or a read failure
    ENDED = 5  # a finite source (file) reached its end
