"""Everything the supervisor shows on its terminal, written by one daemon thread.

A terminal can stop reading: paused with Ctrl-S, an SSH session whose network died, stdout
piped into a program that no longer reads. A write to it then blocks. If the supervisor
loop or the log collector did that write, supervision would stall (no heartbeat checks, no
restarts) and children blocked on their log pipes would stop beating. So nothing but this
thread writes to descriptors 1 and 2: the others hand it lines and frames and never wait.
What it cannot write in time is dropped and counted; the log file has everything.

With the live dashboard on, log lines are printed through rich's live console, above the
table, so that the view is redrawn below them instead of being garbled.

Writes go straight to the descriptors (os.write), never through Python's buffered
sys.stdout: a thread blocked inside a buffered writer holds its lock, and the interpreter
aborts at exit when it cannot take that lock.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, Any, cast

from rich.console import Console, RenderableType
from rich.live import Live

logger = logging.getLogger(__name__)

MAX_LINES = 500  # lines waiting for the terminal; beyond that new lines are dropped


class RawFile:
    """A file-like object over a descriptor, for rich: unbuffered, no lock."""

    encoding = "utf-8"

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, text: str) -> int:
        data = text.encode("utf-8", "replace")
        while data:
            written = os.write(self._fd, data)
            data = data[written:]
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def fileno(self) -> int:
        return self._fd


Frame = Callable[[], RenderableType]  # renders one dashboard frame (in the terminal thread)


class Terminal:
    """Call `start()`, then from any thread: `log_line()`, `status_line()`, `show()`;
    `begin_live()` / `end_live()` around the live dashboard; `close()` at the end.

    Commands are carried out in the order given; a frame not drawn yet is replaced by a
    newer one.
    """

    def __init__(self, stdout_fd: int = 1, stderr_fd: int = 2, max_lines: int = MAX_LINES) -> None:
        self._out = RawFile(stdout_fd)
        self._err = RawFile(stderr_fd)
        self._commands: deque[tuple[str, Any]] = deque()
        self._lines = 0  # lines among the commands
        self._max_lines = max_lines
        self.dropped = 0  # lines dropped because the terminal did not keep up
        self._live: Live | None = None
        self._closing = False
        self.broken = False  # a write failed (terminal gone): nothing more is written
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="terminal", daemon=True)

    @property
    def is_terminal(self) -> bool:
        return self._out.isatty()

    def start(self) -> None:
        self._thread.start()

    # -- from any thread; none of these blocks on the terminal ------------------------------

    def log_line(self, text: str) -> None:
        """A log record for the operator (stderr, or above the live view)."""
        self._line(self._err, text)

    def status_line(self, text: str) -> None:
        """A status line (stdout)."""
        self._line(self._out, text)

    def _line(self, stream: RawFile, text: str) -> None:
        with self._wake:
            if self._lines >= self._max_lines:
                self.dropped += 1
                return
            self._lines += 1
            self._commands.append(("line", (stream, text)))
            self._wake.notify()

    def begin_live(self) -> None:
        self._command("begin", None)

    def show(self, frame: Frame) -> None:
        """The newest dashboard frame; an older one not drawn yet is replaced."""
        with self._wake:
            if self._commands and self._commands[-1][0] == "frame":
                self._commands.pop()
            self._commands.append(("frame", frame))
            self._wake.notify()

    def end_live(self, final: Frame | None = None) -> None:
        self._command("end", final)

    def _command(self, kind: str, argument: Any) -> None:
        with self._wake:
            self._commands.append((kind, argument))
            self._wake.notify()

    def close(self, timeout: float = 2.0) -> bool:
        """Write what is pending (at most `timeout` seconds) and stop; False when the terminal
        did not take it in time (the thread is left blocked, as a daemon)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the terminal thread --------------------------------------------------------------

    def _run(self) -> None:
        reported = 0
        while True:
            with self._wake:
                while not self._commands and not self._closing:
                    self._wake.wait()
                if not self._commands:
                    break
                kind, argument = self._commands.popleft()
                if kind == "line":
                    self._lines -= 1
                dropped = self.dropped
            if self.broken:
                continue
            try:
                if dropped > reported:
                    self._carry_out(
                        "line",
                        (
                            self._err,
                            f"({dropped - reported} lines not shown: the terminal did not keep "
                            "up; pipeline.log has them)",
                        ),
                    )
                    reported = dropped
                self._carry_out(kind, argument)
            except OSError:
                self.broken = True  # EIO after a hangup, EPIPE: the terminal is gone
            except Exception:
                logger.exception("The dashboard could not be drawn")
        if self._live is not None and not self.broken:
            try:
                self._live.stop()
            except OSError:
                self.broken = True

    def _carry_out(self, kind: str, argument: Any) -> None:
        live = self._live
        if kind == "begin" and live is None:
            # RawFile has every method rich uses of a text file; it is not a TextIO subclass
            # on purpose (no buffer, no lock).
            console = Console(file=cast(IO[str], self._out), force_terminal=True)
            self._live = Live(
                console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False
            )
            self._live.start()
        elif kind == "frame" and live is not None:
            live.update(argument(), refresh=True)
        elif kind == "end" and live is not None:
            if argument is not None:
                live.update(argument(), refresh=True)
            self._live = None
            live.stop()
        elif kind == "line":
            stream, text = argument
            if live is not None:
                live.console.print(text, markup=False, highlight=False, soft_wrap=True)
            else:
                stream.write(text + "\n")
