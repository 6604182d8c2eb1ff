"""What FFmpeg and OpenCV say while a capture opens, captured from file descriptor 2.

`cv2.VideoCapture(url)` reports every failure the same way (`isOpened()` is False), while
FFmpeg prints the reason on the process's stderr, e.g.

    [rtsp @ 0x55e34598a200] method DESCRIBE failed: 401 (Unauthorized)
    [tcp @ 0x55c32050cc40] Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused

Redirecting descriptor 2 into a temporary file around the open call turns that into a reason
for the log and tells a rejected password from an unreachable camera. The redirection is
process-wide, so it is held only for the open call, under a lock; a camera process has no
other writer to stderr meanwhile (its log goes through a pipe), and what was captured is
logged at DEBUG level rather than lost.

Outside those open calls, descriptors 1 and 2 of every child are a pipe to the supervisor
(supervisor/bootstrap.py), which logs each line with the child's tag at the level that
`native_level()` reads from it, e.g. OpenCV's

    [ WARN:0@51.004] global cap_ffmpeg_impl.hpp:453 _opencv_ffmpeg_interrupt_callback ...
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# `[rtsp @ 0x55e34598a200] message`, `[mov,mp4,m4a,3gp,3g2,mj2 @ 0x...] message`: FFmpeg's
# default log format (component name @ context address).
_FFMPEG_LINE = re.compile(r"^\[[^\]@]+ @ (?:0x)?[0-9a-fA-F]+\]\s*(?P<message>.+)$")
# `[ WARN:0@51.004] global file.cpp:12 message`: OpenCV's own log format (cv::utils::logging).
_OPENCV_LINE = re.compile(r"^\[\s*(?P<level>FATAL|ERROR|WARN|INFO|DEBUG|VERBOSE)(?::[^\]]*)?\]")
_OPENCV_LEVELS = {
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "VERBOSE": logging.DEBUG,
}
_AUTH_REJECTED = re.compile(r"\b(401|403)\b.*(Unauthori[sz]ed|Forbidden)", re.IGNORECASE)


def native_level(line: str) -> int | None:
    """The logging level of one line of OpenCV's or FFmpeg's native output; None when the
    line is in neither format (a traceback, something else native code printed).

    FFmpeg's default format carries no level: its lines count as warnings.
    """
    found = _OPENCV_LINE.match(line)
    if found:
        return _OPENCV_LEVELS[found["level"]]
    if _FFMPEG_LINE.match(line):
        return logging.WARNING
    return None


# Descriptor 2 belongs to the whole process: one redirection at a time.
_redirect_lock = threading.Lock()


@dataclass
class NativeMessages:
    lines: list[str] = field(default_factory=list)

    def ffmpeg_messages(self) -> list[str]:
        return [m["message"].strip() for m in map(_FFMPEG_LINE.match, self.lines) if m]

    def reason(self) -> str | None:
        """FFmpeg's last message (the one nearest the failure), or None."""
        messages = self.ffmpeg_messages()
        return messages[-1] if messages else None

    def authentication_rejected(self) -> bool:
        """The server answered 401 Unauthorized or 403 Forbidden."""
        return any(_AUTH_REJECTED.search(message) for message in self.ffmpeg_messages())


@contextmanager
def capture_native_messages() -> Iterator[NativeMessages]:
    """Collects what native code writes to descriptor 2 inside the block; the lines are
    available on the yielded object once the block has exited."""
    messages = NativeMessages()
    with _redirect_lock, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield messages
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            messages.lines.extend(line for line in text.splitlines() if line.strip())
