"""One log for the whole site, in the predecessor's format:

    2024-01-15 10:30:45 [CAM063] [INFO] Camera Worker started

Each child process sends its records through its own pipe to the supervisor, which writes the
file. A pipe per child (never one queue shared by all) means a child killed in the middle of a
write leaves at most a truncated message in its own pipe, which the reader discards, and
nobody else is blocked.
"""

from __future__ import annotations

import logging
import traceback
from multiprocessing.connection import Connection

LOG_FORMAT = "%(asctime)s [%(tag)s] [%(levelname)s] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
SUPERVISOR_TAG = "SUPERVISOR"
INFERENCE_TAG = "INFERENCE"
EVENTS_TAG = "EVENTS"  # the event delivery process


class PipeHandler(logging.Handler):
    """Sends (created, levelno, levelname, message) tuples to the supervisor."""

    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            self._connection.send((record.created, record.levelno, record.levelname, message))
        except (BrokenPipeError, EOFError, OSError):
            # The supervisor is gone; nothing left to log to.
            pass
        except Exception:
            self.handleError(record)


def log_to_supervisor(connection: Connection, level: int = logging.INFO) -> None:
    """Route every record of this (child) process to the supervisor's log."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(PipeHandler(connection))
    root.setLevel(level)
