"""The supervisor's side of logging: one file, fed by the supervisor and every child's pipe."""

from __future__ import annotations

import logging
import sys
import threading
from multiprocessing.connection import Connection, wait
from pathlib import Path

from pipeline.logs import DATE_FORMAT, LOG_FORMAT, SUPERVISOR_TAG

logger = logging.getLogger(__name__)


class _DefaultTag(logging.Filter):
    """Records made in the supervisor process itself carry the [SUPERVISOR] tag."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "tag"):
            record.tag = SUPERVISOR_TAG
        return True


class LogSink:
    """Writes the central log file and collects child records from their pipes in a thread.

    `console_level` copies records at that level and above to stderr (None: file only).
    """

    def __init__(self, path: Path, console_level: int | None = logging.WARNING) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        formatter = logging.Formatter(LOG_FORMAT, DATE_FORMAT)
        self._handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8")]
        if console_level is not None:
            console = logging.StreamHandler(sys.stderr)
            console.setLevel(console_level)
            self._handlers.append(console)
        for handler in self._handlers:
            handler.setFormatter(formatter)
            handler.addFilter(_DefaultTag())
        root = logging.getLogger()
        root.setLevel(logging.INFO)
        for handler in self._handlers:
            root.addHandler(handler)
        self._pipes: dict[Connection, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, name="log-sink", daemon=True)
        self.path = path

    def start(self) -> None:
        self._thread.start()

    def add_child(self, connection: Connection, tag: str) -> None:
        """Start reading a child's pipe; its records are written with `[tag]`."""
        with self._lock:
            self._pipes[connection] = tag

    def _collect(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                pipes = list(self._pipes)
            if not pipes:
                self._stop.wait(0.05)
                continue
            for connection in wait(pipes, timeout=0.1):
                assert isinstance(connection, Connection)
                self._drain(connection)

    def _drain(self, connection: Connection) -> None:
        tag = self._pipes[connection]
        try:
            while connection.poll():
                created, levelno, levelname, message = connection.recv()
                self._write(tag, created, levelno, levelname, message)
        except (EOFError, OSError, ValueError, TypeError):
            # The child exited or died mid-message: drop the partial record, close its pipe.
            with self._lock:
                self._pipes.pop(connection, None)
            connection.close()

    def _write(self, tag: str, created: float, levelno: int, levelname: str, message: str) -> None:
        record = logging.makeLogRecord(
            {
                "created": created,
                "levelno": levelno,
                "levelname": levelname,
                "msg": message,
                "tag": tag,
            }
        )
        record.msecs = (created % 1) * 1000
        for handler in self._handlers:
            if levelno >= handler.level:
                handler.handle(record)

    def close(self) -> None:
        """Drain what the children already wrote, then stop and close the file."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        with self._lock:
            pipes = list(self._pipes)
        for connection in pipes:
            if connection in self._pipes:
                self._drain(connection)
        root = logging.getLogger()
        for handler in self._handlers:
            root.removeHandler(handler)
            handler.close()
