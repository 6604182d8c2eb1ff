"""The supervisor's side of logging: one file, fed by the supervisor and every child.

Each child has two pipes: its log records (pipeline/logs.py) and its descriptors 1 and 2
(native output, tracebacks: supervisor/child_output.py). A thread collects both and writes
pipeline.log; records at WARNING and above are also handed to the terminal, which never
blocks this thread (supervisor/terminal.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from pipeline.logs import DATE_FORMAT, LOG_FORMAT, SUPERVISOR_TAG
from supervisor.child_output import OutputLines
from supervisor.terminal import Terminal

logger = logging.getLogger(__name__)

READ_CHUNK = 65536  # bytes read from an output pipe at a time


class _DefaultTag(logging.Filter):
    """Records made in the supervisor process itself carry the [SUPERVISOR] tag."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "tag"):
            record.tag = SUPERVISOR_TAG
        return True


class TerminalHandler(logging.Handler):
    """Hands formatted records to the terminal thread; never blocks."""

    def __init__(self, terminal: Terminal, level: int) -> None:
        super().__init__(level)
        self._terminal = terminal

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._terminal.log_line(self.format(record))
        except Exception:
            self.handleError(record)


@dataclass
class _Pipe:
    tag: str
    output: OutputLines | None  # None: the record pipe; else the child's descriptors 1 and 2


class LogSink:
    """Writes the central log file and collects the children's pipes in a thread.

    `console_level`: records at that level and above also go to `terminal` (None: file only).
    """

    def __init__(
        self,
        path: Path,
        terminal: Terminal | None = None,
        console_level: int | None = logging.WARNING,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        formatter = logging.Formatter(LOG_FORMAT, DATE_FORMAT)
        self._handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8")]
        self._own_terminal: Terminal | None = None
        if console_level is not None:
            if terminal is None:
                terminal = self._own_terminal = Terminal()
                terminal.start()
            self._handlers.append(TerminalHandler(terminal, console_level))
        for handler in self._handlers:
            handler.setFormatter(formatter)
            handler.addFilter(_DefaultTag())
        root = logging.getLogger()
        root.setLevel(logging.INFO)
        for handler in self._handlers:
            root.addHandler(handler)
        logging.captureWarnings(True)  # Python warnings into the log, not onto the terminal
        self._pipes: dict[Connection, _Pipe] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, name="log-sink", daemon=True)
        self.path = path

    def start(self) -> None:
        self._thread.start()

    def add_child(
        self,
        connection: Connection,
        tag: str,
        output: Connection | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        """Start reading a child's record pipe and, when given, its output pipe (descriptors
        1 and 2, `secrets` masked); what they carry is written with `[tag]`."""
        with self._lock:
            self._pipes[connection] = _Pipe(tag, None)
            if output is not None:
                self._pipes[output] = _Pipe(tag, OutputLines(secrets))

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
        pipe = self._pipes[connection]
        if pipe.output is not None:
            self._drain_output(connection, pipe.tag, pipe.output)
            return
        try:
            while connection.poll():
                created, levelno, levelname, message = connection.recv()
                self._write(pipe.tag, created, levelno, levelname, message)
        except (EOFError, OSError, ValueError, TypeError):
            # The child exited or died mid-message: drop the partial record, close its pipe.
            self._forget(connection)

    def _drain_output(self, connection: Connection, tag: str, output: OutputLines) -> None:
        try:
            data = os.read(connection.fileno(), READ_CHUNK)
        except OSError:
            data = b""
        now = time.monotonic()
        records = output.feed(data, now) if data else output.flush(now)
        for levelno, message in records:
            self._write(tag, time.time(), levelno, logging.getLevelName(levelno), message)
        if not data:  # end of file: every holder of the write end (the child) is gone
            self._forget(connection)

    def _forget(self, connection: Connection) -> None:
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
            # Output pipes of children still alive (left behind) are not waited for.
            while connection in self._pipes and wait([connection], timeout=0):
                self._drain(connection)
        root = logging.getLogger()
        for handler in self._handlers:
            root.removeHandler(handler)
            handler.close()
        logging.captureWarnings(False)
        if self._own_terminal is not None:
            self._own_terminal.close()
