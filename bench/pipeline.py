"""Whole pipeline against the model alone, in one run.

    python -m bench.pipeline --cameras 4 [--seconds 20] [--size 640x360]

1. Runs the site (`python -m pipeline.run`) with N synthetic cameras rendering as fast as the
   pipeline takes frames, and reads the inference throughput and mean batch size from its
   status lines.
2. Runs the model alone (ONNX Runtime, same thread settings) at that batch size on
   letterboxed frames for the same time.
Last line: `pipeline/raw = 0.NN (pipeline NN.N images/s, raw NN.N images/s at batch N)`.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"
STATUS = re.compile(r"INFERENCE RUNNING ([\d.]+) img/s batch ([\d.]+)")


def site_yaml(cameras: int, width: int, height: int, fps: float, run_dir: Path) -> str:
    lines = [
        "site: bench",
        f"output_dir: {run_dir}",
        f"model: {{path: {MODEL}}}",
        f"inference: {{max_batch: {cameras}, max_wait_ms: 20}}",
        "recording: {enabled: false}",
        "detections_log: {enabled: false}",
        "dashboard: {status_line_interval: 1.0}",
        "cameras:",
    ]
    for index in range(cameras):
        lines.append(
            f"  - {{id: CAM{index + 1:03d}, source: {{kind: synthetic, seed: {40000 + index}, "
            f"width: {width}, height: {height}, fps: {fps}}}}}"
        )
    return "\n".join(lines) + "\n"


def run_pipeline(
    cameras: int, width: int, height: int, fps: float, seconds: float
) -> tuple[float, float]:
    """Mean (images/s, batch size) over the status lines after a warm-up of a third of the run."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "site.yaml"
        config.write_text(site_yaml(cameras, width, height, fps, Path(folder) / "run"))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.run",
                str(config),
                "--duration",
                str(seconds),
                "--no-dashboard",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    samples = [(float(a), float(b)) for a, b in STATUS.findall(result.stdout)]
    steady = samples[len(samples) // 3 :]
    if not steady:
        raise SystemExit(f"no status lines from the pipeline:\n{result.stdout}\n{result.stderr}")
    return statistics.mean(s[0] for s in steady), statistics.mean(s[1] for s in steady)


def run_raw(batch: int, seconds: float) -> float:
    backend = OnnxRuntimeBackend.from_path(MODEL, batch)
    width, height = backend.spec.input_width, backend.spec.input_height
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (batch, height, width, 3), dtype=np.uint8)
    backend.infer(images)  # warm-up
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        backend.infer(images)
        count += batch
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", default="640x360", help="camera frame size WxH")
    parser.add_argument(
        "--fps",
        type=float,
        default=30.0,
        help="per camera; cameras x fps should exceed what the model can do, so that the "
        "pipeline, not the cameras, is the limit",
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    pipeline_rate, batch_mean = run_pipeline(args.cameras, width, height, args.fps, args.seconds)
    batch = max(1, round(batch_mean))
    print(
        f"pipeline: {pipeline_rate:.1f} images/s, mean batch {batch_mean:.2f} ({args.cameras} cameras {args.size})"
    )
    raw_rate = run_raw(batch, args.seconds / 2)
    print(f"raw model: {raw_rate:.1f} images/s at batch {batch}")
    print(
        f"pipeline/raw = {pipeline_rate / raw_rate:.2f} "
        f"(pipeline {pipeline_rate:.1f} images/s, raw {raw_rate:.1f} images/s at batch {batch})"
    )


if __name__ == "__main__":
    main()
