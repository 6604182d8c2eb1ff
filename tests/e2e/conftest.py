"""A small synthetic site run as a real subprocess: `python -m pipeline.run`."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from tests.jsonl import complete_records

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"
LOG_LINE = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[(SUPERVISOR|INFERENCE|EVENTS|CAM\w+)\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] \S"
)

SITE = """\
site: {site}
output_dir: {run_dir}
model:
  path: {model}
inference:
  max_batch: 4
  max_wait_ms: 20
supervisor_heartbeat_timeout: 10
cameras:
  - id: CAM1
    source: {{kind: synthetic, seed: 30001, width: 640, height: 360, fps: {fps}}}
  - id: CAM2
    source: {{kind: synthetic, seed: 30002, width: 480, height: 640, fps: {fps}}}
"""
SCENES = {"CAM1": (30001, 640, 360, 8.0), "CAM2": (30002, 480, 640, 8.0)}


@dataclass
class SiteRun:
    site: str
    config: Path
    run_dir: Path
    extra_args: list[str] = field(default_factory=list)  # more command-line flags

    def set_fps(self, fps: float) -> None:
        """Both cameras render at `fps` (the ground truth of SCENES assumes the default 8)."""
        self.config.write_text(
            SITE.format(site=self.site, run_dir=self.run_dir, model=MODEL, fps=fps)
        )

    def pid_of(self, tag: str) -> int | None:
        """The pid the latest `[tag] ... Worker started (pid N)` log line names."""
        if not (self.run_dir / "pipeline.log").exists():
            return None
        pids = [
            int(found.group(1))
            for line in self.log_lines
            if (found := re.search(rf"\[{tag}\] \[INFO\] \w+ Worker started \(pid (\d+)\)", line))
        ]
        return pids[-1] if pids else None

    def done_times(self, camera: str) -> list[float]:
        """Wall-clock times of the camera's detections lines."""
        return [
            datetime.fromisoformat(line["time"]).timestamp()
            for line in self.detections()
            if line["camera"] == camera
        ]

    cwd = REPO

    def start_command(self, duration: float) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pipeline.run",
            str(self.config),
            "--duration",
            str(duration),
            "--no-dashboard",
            *self.extra_args,
        ]

    @contextmanager
    def running(self, duration: float) -> Iterator[subprocess.Popen[str]]:
        """The site as a subprocess; killed if the test leaves before it ends."""
        process = self.start(duration)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    @staticmethod
    def interrupt(process: subprocess.Popen[str]) -> str:
        """Ctrl-C the site and wait for its clean exit (code 0); returns what it printed."""
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output
        return output

    def kill_and_await_restart(self, tag: str) -> float:
        """SIGKILL the process of `tag` and wait for its replacement; returns the kill time."""
        pid = wait_for(lambda: self.pid_of(tag), 30, f"{tag} to start")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        wait_for(lambda: (self.pid_of(tag) or pid) != pid, 40, f"a new {tag} process")
        return killed_at

    def start(self, duration: float) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.start_command(duration),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    @property
    def log_lines(self) -> list[str]:
        return (self.run_dir / "pipeline.log").read_text().splitlines()

    def detections(self) -> list[dict]:
        return complete_records(self.run_dir / "detections.jsonl")

    def leftover_segments(self) -> list[str]:
        return [name for name in os.listdir("/dev/shm") if name.startswith(f"vigia_{self.site}")]


@pytest.fixture
def site_run(tmp_path: Path) -> SiteRun:
    if not MODEL.is_file():
        pytest.fail(f"{MODEL} is missing: the demo model ships with the repository")
    site = f"e2e{secrets.token_hex(3)}"
    run_dir = tmp_path / "run"
    run = SiteRun(site, tmp_path / "site.yaml", run_dir)
    run.set_fps(8)
    return run


def wait_for(predicate, timeout: float, what: str):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
