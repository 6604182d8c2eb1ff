"""The terminal thread: callers never wait for the terminal, a terminal that stops reading
costs dropped lines only, a terminal that goes away costs nothing."""

import fcntl
import os
import threading

from rich.text import Text

from supervisor.terminal import Terminal

F_SETPIPE_SZ = 1031  # Linux: set a pipe's buffer size (bytes, rounded up to a page)


def unread_pipe() -> tuple[int, int]:
    """A pipe whose reader never reads, with the smallest buffer the kernel allows."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    return read_end, write_end


def drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_a_terminal_that_stops_reading_never_blocks_the_callers():
    read_end, write_end = unread_pipe()
    terminal = Terminal(stdout_fd=write_end, stderr_fd=write_end, max_lines=100)
    terminal.start()
    line = "x" * 200

    def flood() -> None:
        for number in range(5000):
            terminal.log_line(f"{number} {line}")
            terminal.status_line(f"status {number}")

    caller = threading.Thread(target=flood)
    caller.start()
    caller.join(30)
    assert not caller.is_alive(), "a caller blocked on the terminal"
    assert terminal.dropped > 9000  # everything past the pipe and the queue
    assert terminal.close(timeout=0.5) is False  # the thread is stuck in its write ...
    written = drain(read_end)  # ... until someone reads again
    written += drain_until_closed(read_end, terminal)
    text = written.decode()
    assert "0 xxx" in text and "lines not shown: the terminal did not keep up" in text
    os.close(read_end)
    os.close(write_end)


def drain_until_closed(fd: int, terminal: Terminal) -> bytes:
    data = b""
    for _ in range(200):
        data += drain(fd)
        if terminal.close(timeout=0.05):
            return data + drain(fd)
    raise AssertionError("the terminal thread did not finish once the pipe was read")


def test_lines_keep_their_order_and_streams():
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    terminal = Terminal(stdout_fd=out_write, stderr_fd=err_write)
    terminal.start()
    for number in range(50):
        terminal.status_line(f"status {number}")
        terminal.log_line(f"warning {number}")
    assert terminal.close(timeout=5)
    assert drain(out_read).decode().splitlines() == [f"status {n}" for n in range(50)]
    assert drain(err_read).decode().splitlines() == [f"warning {n}" for n in range(50)]
    for fd in (out_read, out_write, err_read, err_write):
        os.close(fd)


def test_live_view_prints_log_lines_above_the_view_once_each():
    master, slave = os.openpty()
    terminal = Terminal(stdout_fd=slave, stderr_fd=slave)
    terminal.start()
    assert terminal.is_terminal
    terminal.begin_live()
    terminal.show(lambda: Text("TABLE frame 1"))
    terminal.log_line("2026-11-29 10:30:47 [SUPERVISOR] [WARNING] CAM063: Heartbeat timeout")
    terminal.show(lambda: Text("TABLE frame 2"))
    terminal.end_live(lambda: Text("TABLE final"))
    assert terminal.close(timeout=5)
    text = drain(master).decode(errors="replace")
    assert text.count("CAM063: Heartbeat timeout") == 1
    warning_at = text.index("CAM063: Heartbeat timeout")
    assert text.index("TABLE final") > warning_at  # the view is drawn again below it
    os.close(master)
    os.close(slave)


def test_a_terminal_that_goes_away_is_left_alone():
    master, slave = os.openpty()
    terminal = Terminal(stdout_fd=slave, stderr_fd=slave)
    terminal.start()
    terminal.log_line("before")
    os.close(master)  # the terminal window closed: writes now fail with EIO
    for number in range(100):
        terminal.log_line(f"after {number}")
    assert terminal.close(timeout=5)
    assert terminal.broken
    os.close(slave)
