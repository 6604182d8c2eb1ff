"""The site and its terminal: the live dashboard in a real terminal (tmux) stays intact while
warnings are printed, a stdout nobody reads never stalls supervision, and a terminal closed
under a running site stops it cleanly (SIGHUP) with nothing left in /dev/shm."""

from __future__ import annotations

import fcntl
import os
import shlex
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.faults.site import RECOVER, REPO, START, FaultSite, synthetic_cameras, wait_for
from tests.processes import alive

F_SETPIPE_SZ = 1031  # Linux: set a pipe's buffer size


class Tmux:
    """A private tmux server (its own socket) with one window running a command."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def pane(self) -> str:
        return self("capture-pane", "-p", "-t", "site")

    def pane_pid(self) -> int:
        return int(self("display-message", "-p", "-t", "site", "#{pane_pid}").strip())


@contextmanager
def tmux_running(site: FaultSite, columns: int = 100) -> Iterator[Tmux]:
    if subprocess.run(["which", "tmux"], capture_output=True).returncode != 0:
        pytest.fail("tmux is missing: it is in system-packages.txt (`make test` installs it)")
    tmux = Tmux(f"vigia-{site.site}")
    command = " ".join(
        shlex.quote(part) for part in [sys.executable, "-m", "pipeline.run", str(site.config)]
    )
    tmux(
        "new-session", "-d", "-s", "site", "-x", str(columns), "-y", "45",
        f"cd {shlex.quote(str(REPO))} && exec {command}",
    )  # fmt: skip
    try:
        yield tmux
    finally:
        subprocess.run(["tmux", "-L", tmux.socket, "kill-server"], capture_output=True)


def test_the_live_dashboard_stays_intact_while_warnings_are_printed(fault_site: FaultSite):
    fault_site.write(synthetic_cameras(fps=5), dashboard={"refresh_hz": 4})
    with tmux_running(fault_site) as tmux:
        supervisor = tmux.pane_pid()
        wait_for(lambda: fault_site.answered_since("CAM2", 0), START, "answers")
        old = fault_site.kill("CAM2")
        wait_for(lambda: (fault_site.pid_of("CAM2") or old) != old, RECOVER, "a new CAM2")
        replaced = time.time()
        wait_for(lambda: fault_site.answered_since("CAM2", replaced), RECOVER, "CAM2 again")
        time.sleep(1.0)  # a few redraws after the warnings
        pane = tmux.pane()
        tmux("send-keys", "-t", "site", "C-c")
        wait_for(lambda: not alive(supervisor), 60, "the site to stop")
    lines = pane.splitlines()
    assert any("[SUPERVISOR] [ERROR] CAM2: process was killed by SIGKILL" in x for x in lines), pane
    assert any("CAM2: restarting in" in line for line in lines), pane
    # One view, not a stale copy per printed line: each heading and row once.
    assert len([x for x in lines if x.startswith(f"vigia · {fault_site.site} · 2 cameras")]) == 1
    assert len([x for x in lines if x.split()[:2] == ["camera", "state"]]) == 1, pane
    for camera in ("CAM1", "CAM2"):
        rows = [x for x in lines if x.split()[:1] == [camera]]
        assert len(rows) == 1, pane
        assert rows[0].split()[1] == "STREAMING", pane
    assert len([x for x in lines if x.split()[:1] == ["INFERENCE"]]) == 1, pane
    # Warnings are above the view, never inside it.
    view_starts = next(i for i, x in enumerate(lines) if x.startswith("vigia · "))
    assert all("[SUPERVISOR]" not in x for x in lines[view_starts:]), pane
    assert "Stop requested (signal SIGINT)" in fault_site.log
    assert fault_site.leftover_segments() == []


def test_a_stdout_nobody_reads_never_stalls_supervision(fault_site: FaultSite):
    fault_site.write(
        synthetic_cameras(fps=5),
        supervisor_heartbeat_timeout=3,
        dashboard={"status_line_interval": 0.05},
    )
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    try:
        with fault_site.running(stdout=write_end) as site:
            os.close(write_end)
            wait_for(lambda: fault_site.answered_since("CAM2", 0), START, "answers")
            wait_for(lambda: pipe_bytes(read_end) >= 3000, 30, "the pipe to fill up")
            old = fault_site.kill("CAM2", signal.SIGSTOP)  # only supervision can see this
            wait_for(lambda: (fault_site.pid_of("CAM2") or old) != old, RECOVER, "CAM2 replaced")
            replaced = time.time()
            wait_for(lambda: fault_site.answered_since("CAM2", replaced), RECOVER, "answers")
            asked = time.monotonic()
            site.send_signal(signal.SIGTERM)
            assert site.wait(60) == 0
            assert time.monotonic() - asked < 45
    finally:
        os.close(read_end)
    assert "CAM2: Heartbeat timeout (3s)" in fault_site.log
    assert fault_site.leftover_segments() == []


def pipe_bytes(fd: int) -> int:
    """Bytes waiting in a pipe (FIONREAD)."""
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)


def test_closing_the_terminal_stops_the_site_cleanly(fault_site: FaultSite):
    """Regression: a site whose terminal closed (SIGHUP) died without its clean stop and left
    its segments in /dev/shm until the same site started again."""
    fault_site.write(synthetic_cameras(fps=5))
    with tmux_running(fault_site) as tmux:
        supervisor = tmux.pane_pid()
        wait_for(lambda: fault_site.answered_since("CAM2", 0), START, "answers")
        children = [fault_site.pid_of(tag) for tag in ("INFERENCE", "CAM1", "CAM2")]
        assert fault_site.leftover_segments()
        tmux("kill-server")  # the terminal goes away: SIGHUP to its processes
        wait_for(lambda: not alive(supervisor), 60, "the site to stop")
    log = fault_site.log
    assert "Stop requested (signal SIGHUP)" in log
    for camera in ("CAM1", "CAM2"):
        assert f"[{camera}] [INFO] Recording finalized" in log
    assert "[INFERENCE] [INFO] Inference Worker stopped" in log
    assert all(pid is not None and not alive(pid) for pid in children)
    assert fault_site.leftover_segments() == []
