"""What a child writes on its descriptors 1 and 2, turned into log records.

Those descriptors are a pipe to the supervisor (supervisor/bootstrap.py). What arrives there
is native output (OpenCV, FFmpeg), faulthandler's traceback dump of a hung child, or a
Python traceback printed before the child's logging was set up. Each line becomes one
record, so that pipeline.log keeps one format:

    2024-01-15 10:30:45 [CAM063] [WARNING] OpenCV/FFmpeg: [ WARN:0@51.004] global cap_...
    2024-01-15 10:30:46 [CAM063] [ERROR] Fatal Python error: Aborted
    2024-01-15 10:30:46 [CAM063] [ERROR] Thread 0x00007f3c8d7fe640 (most recent call first):
    2024-01-15 10:30:46 [CAM063] [ERROR]   File "pipeline/camera/capture.py", line 212 in _run

Library chatter is bounded (a broken stream can make FFmpeg print a line per packet); a
traceback never is, since it is what the operator needs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.camera.native_log import native_level
from pipeline.camera.urls import mask_secrets

NATIVE_PREFIX = "OpenCV/FFmpeg: "
BURST_LINES = 50  # library lines logged per child per BURST_WINDOW; the rest are counted
BURST_WINDOW = 10.0  # seconds
MAX_LINE = 4000  # characters kept of one line

# The first line of a block that is all one error: faulthandler's dump, a Python traceback.
_BLOCK_START = re.compile(
    r"^(Fatal Python error:|Traceback \(most recent call last\):|(Current )?[Tt]hread 0x"
    r"|Stack \(most recent call first\):)"
)


@dataclass
class OutputLines:
    """Splits one child's output into (levelno, message) records. Times: time.monotonic()."""

    secrets: tuple[str, ...] = ()
    _partial: bytes = b""
    _in_block: bool = False
    _window_start: float = 0.0
    _window_lines: int = 0
    suppressed: int = 0  # library lines not logged in the current window

    def feed(self, data: bytes, now: float) -> list[tuple[int, str]]:
        """Records for every complete line in `data` (a partial last line waits)."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_LINE * 4:  # a writer that never ends its line
            lines.append(self._partial)
            self._partial = b""
        return self._records((line.decode("utf-8", "replace") for line in lines), now)

    def flush(self, now: float) -> list[tuple[int, str]]:
        """Records for what is left (the child has exited) and the suppression count."""
        rest, self._partial = self._partial, b""
        records = self._records([rest.decode("utf-8", "replace")] if rest else [], now)
        return records + self._suppression_note()

    def _records(self, lines: Iterable[str], now: float) -> list[tuple[int, str]]:
        records: list[tuple[int, str]] = []
        for raw in lines:
            line = raw.rstrip("\r")
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                line = line[:MAX_LINE] + f" ... ({len(line) - MAX_LINE} more characters)"
            line = mask_secrets(line, self.secrets)
            level = native_level(line)
            if level is not None:
                self._in_block = False
                if self._admit(now, records):
                    records.append((level, NATIVE_PREFIX + line))
                continue
            if _BLOCK_START.match(line):
                self._in_block = True
            records.append((logging.ERROR if self._in_block else logging.WARNING, line))
        return records

    def _admit(self, now: float, records: list[tuple[int, str]]) -> bool:
        if now - self._window_start >= BURST_WINDOW:
            records.extend(self._suppression_note())
            self._window_start, self._window_lines = now, 0
        self._window_lines += 1
        if self._window_lines <= BURST_LINES:
            return True
        self.suppressed += 1
        return False

    def _suppression_note(self) -> list[tuple[int, str]]:
        if not self.suppressed:
            return []
        note = (
            logging.WARNING,
            f"{NATIVE_PREFIX}{self.suppressed} more lines in {BURST_WINDOW:.0f}s not logged",
        )
        self.suppressed = 0
        return [note]
