"""A site run as a user runs it (`python -m pipeline.run`, a real subprocess), with what the
fault tests look at: its log, its detections, its status lines, its shared memory."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from tests.jsonl import complete_records

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"
# Generous: these machines are shared, and a loaded one starts a process in seconds.
START = 90.0  # seconds for a site's processes to start and answer
RECOVER = 60.0  # seconds for a killed or hung process to be replaced and answer again

T = TypeVar("T")

CAMERA = "  - id: {id}\n    source: {{kind: synthetic, seed: {seed}, width: 320, height: 240, fps: {fps}}}\n"


def synthetic_cameras(fps: float = 8, count: int = 2, target: float | None = None) -> str:
    text = "".join(
        CAMERA.format(id=f"CAM{n}", seed=40000 + n, fps=fps) for n in range(1, count + 1)
    )
    if target is not None:
        text = text.replace("\n  - id:", f"\n    target_fps: {target}\n  - id:") + (
            f"    target_fps: {target}\n"
        )
    return text


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class FaultSite:
    """One site folder: `write(cameras, **keys)` its YAML, `start()` it, then observe."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.site = f"flt{secrets.token_hex(3)}"
        self.config = folder / "site.yaml"
        self.run_dir = folder / "run"
        self.process: subprocess.Popen[bytes] | None = None

    def write(self, cameras: str, model: Path = MODEL, **keys: Any) -> Path:
        settings = {
            "supervisor_heartbeat_timeout": 10,
            "inference": {"max_batch": 4, "max_wait_ms": 20},
            **keys,
        }
        lines = [f"site: {self.site}", f"output_dir: {self.run_dir}", f"model: {{path: {model}}}"]
        lines += [f"{key}: {json.dumps(value)}" for key, value in settings.items()]
        self.config.write_text("\n".join(lines) + "\ncameras:\n" + cameras)
        return self.config

    def command(self, *flags: str) -> list[str]:
        return [sys.executable, "-m", "pipeline.run", str(self.config), *flags]

    def start(self, *flags: str, stdout: Any = None, **popen: Any) -> subprocess.Popen[bytes]:
        """The site with `flags` (default: no dashboard); its output goes to `output.txt`."""
        flags = flags or ("--no-dashboard",)
        out = stdout if stdout is not None else (self.folder / "output.txt").open("wb")
        self.process = subprocess.Popen(
            self.command(*flags), cwd=REPO, stdout=out, stderr=subprocess.STDOUT, **popen
        )
        return self.process

    @contextmanager
    def running(self, *flags: str, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
        process = self.start(*flags, **popen)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send `signum` and wait for the site to exit; its exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    # -- what the site left --------------------------------------------------------------

    @property
    def output(self) -> str:
        path = self.folder / "output.txt"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def log(self) -> str:
        path = self.run_dir / "pipeline.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pids(self, tag: str) -> list[int]:
        """Pids of `[tag] ... Worker started (pid N)` lines, in order."""
        return [
            int(p)
            for p in re.findall(rf"\[{tag}\] \[INFO\] \w+ Worker started \(pid (\d+)\)", self.log)
        ]

    def pid_of(self, tag: str) -> int | None:
        pids = self.pids(tag)
        return pids[-1] if pids else None

    def detections(self) -> list[dict[str, Any]]:
        return complete_records(self.run_dir / "detections.jsonl")

    def done_times(self, camera: str) -> list[float]:
        """Wall-clock times of the camera's answered frames."""
        return [
            datetime.fromisoformat(line["time"]).timestamp()
            for line in self.detections()
            if line["camera"] == camera
        ]

    def answered_since(self, camera: str, moment: float, frames: int = 3) -> bool:
        return len([t for t in self.done_times(camera) if t > moment]) >= frames

    def leftover_segments(self) -> list[str]:
        return [name for name in os.listdir("/dev/shm") if name.startswith(f"vigia_{self.site}")]

    def segments(self) -> list[str]:
        return self.leftover_segments()

    def kill(self, tag: str, signum: int = signal.SIGKILL) -> int:
        pid = wait_for(lambda: self.pid_of(tag), START, f"{tag} to start")
        os.kill(pid, signum)
        return pid
