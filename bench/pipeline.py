"""Whole pipeline against the models alone, in one run.

    python -m bench.pipeline --cameras 4 [--models 2] [--seconds 20] [--size 640x360]

1. Runs the site (`python -m pipeline.run`) with N synthetic cameras rendering as fast as the
   pipeline takes frames and M models (copies of the demo detector, so each is loaded and run
   on its own), and reads the inference throughput and mean batch size from its status lines
   and the inference process's per-stage report (copy, preprocess, model, decode, answer,
   waiting; its CPU time per image) from its log.
2. Runs the M models alone (ONNX Runtime, same thread settings) at that batch size on
   letterboxed frames for half as long, measuring images/s and this process's CPU per image.
Last line: `pipeline/raw = 0.NN, inference cpu/model cpu = N.NNx (...)`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"
STATUS = re.compile(r"INFERENCE RUNNING ([\d.]+) img/s batch ([\d.]+)")
STAGES = re.compile(r"\[INFERENCE\] \[INFO\] (Per image over .* CPU ([\d.]+) ms per image)")


def site_yaml(
    cameras: int,
    models: list[Path],
    width: int,
    height: int,
    fps: float,
    run_dir: Path,
    report: float,
    threads: int = 0,
) -> str:
    lines = [
        "site: bench",
        f"output_dir: {run_dir}",
        "models:",
        *(f"  - {{name: m{index}, path: {path}}}" for index, path in enumerate(models)),
        f"inference: {{max_batch: {cameras}, max_wait_ms: 20, report_interval: {report}}}",
        f"onnxruntime: {{threads: {threads}}}",
        "recording: {enabled: false}",
        "evidence: {enabled: false}",
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


@dataclass(frozen=True)
class PipelineRun:
    images_per_s: float
    batch_mean: float
    stages: str  # the inference process's last per-stage report
    cpu_ms_per_image: float


def run_pipeline(
    cameras: int,
    models: list[Path],
    width: int,
    height: int,
    fps: float,
    seconds: float,
    threads: int = 0,
) -> PipelineRun:
    """Means over the status lines after a warm-up of a third of the run; the stage report of
    the last two thirds."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "site.yaml"
        run_dir = Path(folder) / "run"
        report = max(1.0, seconds / 3)
        config.write_text(site_yaml(cameras, models, width, height, fps, run_dir, report, threads))
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
        reports = STAGES.findall((run_dir / "pipeline.log").read_text())
    samples = [(float(a), float(b)) for a, b in STATUS.findall(result.stdout)]
    steady = samples[len(samples) // 3 :]
    if not steady or len(reports) < 2:
        raise SystemExit(f"no status lines from the pipeline:\n{result.stdout}\n{result.stderr}")
    stages, cpu = reports[-1]  # the first report includes the warm-up
    return PipelineRun(
        statistics.mean(s[0] for s in steady),
        statistics.mean(s[1] for s in steady),
        stages,
        float(cpu),
    )


def run_raw(
    models: list[Path], batch: int, seconds: float, threads: int = 0
) -> tuple[float, float]:
    """(images/s through every model, this process's CPU ms per image)."""
    backends = [OnnxRuntimeBackend.from_path(path, batch, threads) for path in models]
    width, height = backends[0].spec.input_width, backends[0].spec.input_height
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (batch, height, width, 3), dtype=np.uint8)
    for backend in backends:
        backend.infer(images)  # warm-up
    count = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        for backend in backends:
            backend.infer(images)
        count += batch
    cpu = time.process_time() - cpu_started
    return count / (time.perf_counter() - started), cpu * 1000 / count


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
    parser.add_argument("--models", type=int, default=1, help="models run on every batch")
    parser.add_argument(
        "--threads", type=int, default=0, help="onnxruntime.threads, both sides (0: per core)"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        models = [MODEL]
        for index in range(1, args.models):  # a copy is loaded and run as a model of its own
            models.append(Path(folder) / f"copy{index}.onnx")
            shutil.copyfile(MODEL, models[-1])
        run = run_pipeline(
            args.cameras, models, width, height, args.fps, args.seconds, args.threads
        )
        batch = max(1, round(run.batch_mean))
        print(
            f"pipeline: {run.images_per_s:.1f} images/s, mean batch {run.batch_mean:.2f} "
            f"({args.cameras} cameras {args.size}, {args.models} models)"
        )
        print(f"inference process: {run.stages}")
        raw_rate, raw_cpu = run_raw(models, batch, args.seconds / 2, args.threads)
    print(f"models alone: {raw_rate:.1f} images/s at batch {batch}, CPU {raw_cpu:.2f} ms per image")
    print(
        f"pipeline/raw = {run.images_per_s / raw_rate:.2f}, inference cpu/model cpu = "
        f"{run.cpu_ms_per_image / raw_cpu:.2f}x (pipeline {run.images_per_s:.1f} images/s, "
        f"raw {raw_rate:.1f} images/s at batch {batch}, {args.models} models; CPU per image "
        f"{run.cpu_ms_per_image:.2f} vs {raw_cpu:.2f} ms)"
    )


if __name__ == "__main__":
    main()
