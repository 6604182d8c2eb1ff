"""Fixtures of the camera tests: H.264 clips and a real RTSP server (gst-rtsp-server).

The server runs tests/camera/rtsp_server.py under Debian's system python3, which has the
GObject bindings (`python3-gi`, `gir1.2-gst-rtsp-server-1.0`) that a venv lacks; those come
from system-packages.txt (`make test` installs them). Where they are missing, a test that
needs the server fails, naming the packages; nothing is skipped.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.camera.media import encode_pattern

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = HERE / "rtsp_server.py"
INSTALL_HINT = "run `make test` (or scripts/system-packages.sh), which installs system-packages.txt"
READY_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@functools.cache
def server_problem() -> str | None:
    """Why the RTSP test server cannot start here, or None."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} (Debian's python3, for gst-rtsp-server) missing; {INSTALL_HINT}"
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); "
            "from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return (
            "gst-rtsp-server bindings unavailable under "
            f"{SYSTEM_PYTHON} ({last}): packages python3-gst-1.0, gir1.2-gst-rtsp-server-1.0; "
            f"{INSTALL_HINT}"
        )
    return None


@dataclass
class RtspServer:
    """One gst-rtsp-server process at a time on a fixed port; restartable on that port."""

    clip: Path
    port: int
    user: str | None = None
    password: str | None = None
    process: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream"

    def start(self, clip: Path | None = None) -> RtspServer:
        """Starts (again) on `self.port`, optionally serving another clip."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.clip = clip or self.clip
        command = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port)]
        command += ["--clip", str(self.clip)]
        if self.user is not None:
            command += ["--user", self.user, "--password", self.password or ""]
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            line = self._ready_line(deadline)
            if line.startswith("READY"):
                self.port = int(line.split()[1])
                return self
            self._reap()
            # The port can stay busy for a moment after a kill: try again until the deadline.
            if time.monotonic() > deadline:
                raise RuntimeError(f"RTSP server did not start: {line or self.log[-1:]}")
            time.sleep(0.1)

    def _ready_line(self, deadline: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], deadline - time.monotonic())
        return self.process.stdout.readline().strip() if ready else ""

    def _reap(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        _, err = self.process.communicate(timeout=10)
        self.log.extend(err.splitlines())

    def pipe_fds(self) -> set[str]:
        """This process's descriptors of the server's stdout and stderr pipes."""
        if self.process is None:
            return set()
        return {str(pipe.fileno()) for pipe in (self.process.stdout, self.process.stderr) if pipe}

    def kill(self) -> None:
        """SIGKILL: the camera's connection drops at once."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self._reap()

    def freeze(self) -> None:
        """SIGSTOP: sockets stay open, no data flows."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self._reap()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of H.264 clips: `stream.mp4` (320x240, 10 frames/s, 120 s), `large.mp4`
    (480x272, same rate, 120 s) and `short.mp4` (320x240, 10 s)."""
    folder = tmp_path_factory.mktemp("clips")
    encode_pattern(folder / "stream.mp4", 320, 240, frames=1200)
    encode_pattern(folder / "large.mp4", 480, 272, frames=1200, pattern="bars")
    encode_pattern(folder / "short.mp4", 320, 240, frames=100)
    return folder


@pytest.fixture
def rtsp_server(clips: Path) -> Iterator[Callable[..., RtspServer]]:
    """Factory: `rtsp_server(port=None, clip=None, user=None, password=None, start=True)`.

    Checked when the test first calls it, so a missing package is that test's failure (with
    the packages named), not an error of the fixture."""
    servers: list[RtspServer] = []

    def make(
        port: int | None = None,
        clip: Path | None = None,
        user: str | None = None,
        password: str | None = None,
        start: bool = True,
    ) -> RtspServer:
        problem = server_problem()
        if problem:
            pytest.fail(f"RTSP test server cannot start: {problem}", pytrace=False)
        server = RtspServer(clip or clips / "stream.mp4", port or free_port(), user, password)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.close()
