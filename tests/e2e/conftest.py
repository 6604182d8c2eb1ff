"""A small synthetic site run as a real subprocess: `python -m pipeline.run`."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"
LOG_LINE = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[(SUPERVISOR|INFERENCE|CAM\w+)\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] \S"
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
    source: {{kind: synthetic, seed: 30001, width: 640, height: 360, fps: 8}}
  - id: CAM2
    source: {{kind: synthetic, seed: 30002, width: 480, height: 640, fps: 8}}
"""
SCENES = {"CAM1": (30001, 640, 360, 8.0), "CAM2": (30002, 480, 640, 8.0)}


@dataclass
class SiteRun:
    site: str
    config: Path
    run_dir: Path

    def start(self, duration: float) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline.run",
                str(self.config),
                "--duration",
                str(duration),
                "--no-dashboard",
            ],
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
        path = self.run_dir / "detections.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def leftover_segments(self) -> list[str]:
        return [name for name in os.listdir("/dev/shm") if name.startswith(f"vigia_{self.site}")]


@pytest.fixture
def site_run(tmp_path: Path) -> SiteRun:
    if not MODEL.is_file():
        pytest.fail(f"{MODEL} is missing: the demo model ships with the repository")
    site = f"e2e{secrets.token_hex(3)}"
    run_dir = tmp_path / "run"
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(site=site, run_dir=run_dir, model=MODEL))
    return SiteRun(site, config, run_dir)
