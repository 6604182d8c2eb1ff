"""Rotating JSONL file: one event per line, `events.jsonl` then `events.jsonl.1`, `.2`, ...

fsync policy: with `fsync: true` (default) the file is fsynced after each batch and before the
outbox cursor advances, so a line counted as delivered survives a power cut; rotation also
fsyncs the folder after its renames. With `fsync: false` lines reach the page cache only (a
process crash loses nothing, a power cut may lose the last lines though they count as
delivered).

Crash safety: only the delivery process writes the file. A SIGKILL in the middle of a batch can
leave a partial last line; at open, the sink cuts the file back to its last complete line (that
event is written again, since the cursor had not advanced). Lines written but not yet counted
are written again after a restart: a reader de-duplicates by `id`, as for every sink.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from pipeline.config.events import FileSinkConfig
from pipeline.events.outbox import StoredEvent
from pipeline.events.sink import Backoff, Delivery

logger = logging.getLogger(__name__)

_TAIL_CHUNK = 65536  # bytes read backwards when looking for the last newline


class JsonlFileSink:
    def __init__(self, config: FileSinkConfig, directory: Path) -> None:
        self.name = config.name
        self.config = config
        self.path = config.path if config.path.is_absolute() else directory / config.path
        self._file: BinaryIO | None = None
        self._size = 0
        self._backoff = Backoff(config.retry_initial, config.retry_max)
        self.rotations = 0

    def describe(self) -> str:
        return f"file {self.path}"

    def open(self) -> None:
        try:
            self._open_file()
        except OSError as error:
            # Retried by send(), which reports it as a failing delivery.
            logger.warning("Cannot open %s yet: %s", self.path, error)

    def _open_file(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_partial_line()
        self._file = open(self.path, "ab")
        self._size = self._file.tell()

    def _cut_partial_line(self) -> None:
        """Truncate a last line without its newline (a write cut short by a kill)."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as handle:
            end = handle.seek(0, os.SEEK_END)
            position = end
            while position > 0:
                start = max(0, position - _TAIL_CHUNK)
                handle.seek(start)
                chunk = handle.read(position - start)
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    keep = start + newline + 1
                    break
                position = start
            else:
                keep = 0
            if keep < end:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
                logger.warning(
                    "%s: cut a partial last line (%d bytes) left by an interrupted write; "
                    "its event is written again",
                    self.path,
                    end - keep,
                )

    def send(self, events: Sequence[StoredEvent], abort: threading.Event) -> Delivery:
        try:
            if self._file is None:
                self._open_file()
            assert self._file is not None
            for event in events:
                line = event.body.encode() + b"\n"
                if self._size and self._size + len(line) > self.config.max_bytes:
                    self._rotate()
                self._file.write(line)
                self._size += len(line)
            self._file.flush()
            if self.config.fsync:
                os.fsync(self._file.fileno())
        except OSError as error:
            # Disk full, folder removed...: reopen (cutting any partial line) and retry later.
            self._discard_file()
            return Delivery(0, f"cannot write {self.path}: {error}", self._backoff.failure())
        self._backoff.success()
        return Delivery(len(events))

    def _rotate(self) -> None:
        """events.jsonl -> .1 -> .2 ... ; the oldest beyond `backups` is removed."""
        assert self._file is not None
        self._file.flush()
        if self.config.fsync:
            os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        backups = self.config.backups
        if backups == 0:
            self.path.unlink()
        else:
            for index in range(backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{index}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        if self.config.fsync:
            self._fsync_folder()
        self._file = open(self.path, "ab")
        self._size = 0
        self.rotations += 1
        logger.info("%s: rotated (%d backups kept)", self.path, backups)

    def _fsync_folder(self) -> None:
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def _discard_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as error:
                logger.warning("%s: close after a failed write: %s", self.path, error)
            self._file = None

    def close(self, timeout: float) -> None:
        if self._file is not None:
            try:
                self._file.flush()
                if self.config.fsync:
                    os.fsync(self._file.fileno())
            except OSError as error:
                logger.error("%s: final flush failed: %s", self.path, error)
            self._discard_file()
