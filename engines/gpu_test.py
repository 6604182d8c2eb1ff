"""`make gpu-test`: the TensorRT path proved on this machine's GPU, in two steps.

1. Builds an FP16 engine from the demo detector and compares its raw outputs with ONNX
   Runtime's (CPU, FP32) on 8 letterboxed synthetic worksite frames. Tolerance (FP16 against
   FP32, 320x320 input): boxes within 2.0 input pixels, class scores within 0.02.
2. Runs a 4-camera synthetic site on that engine for 20 s (`python -m pipeline.run`) and
   checks it exits cleanly with every camera answered by the TensorRT backend.

Exit codes: 0 passed, 1 a check failed, 3 no TensorRT or GPU here (one line saying what to
install).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEMO_MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"
BOX_TOLERANCE_PX = 2.0
SCORE_TOLERANCE = 0.02
SECONDS = 20.0
CAMERAS = 4

SITE = """\
site: gputest
output_dir: {run_dir}
model:
  name: ppe
  path: {model}
  backend: tensorrt
tensorrt:
  engine_dir: {engines}
  precision: fp16
inference:
  max_batch: {cameras}
  max_wait_ms: 20
recording: {{enabled: false}}
dashboard: {{status_line_interval: 2.0}}
cameras:
"""
CAMERA = "  - {{id: CAM{index}, source: {{kind: synthetic, seed: {seed}, width: 1280, height: 720, fps: 15}}}}\n"


@dataclass(frozen=True)
class Agreement:
    box_px: float  # largest difference of a box coordinate, input pixels
    score: float  # largest difference of a class score

    @property
    def within_tolerance(self) -> bool:
        return self.box_px <= BOX_TOLERANCE_PX and self.score <= SCORE_TOLERANCE


def yolo_agreement(ours: np.ndarray, reference: np.ndarray) -> Agreement:
    """Raw (B, 4 + classes, anchors) outputs: rows 0-3 boxes in input pixels, then scores."""
    difference = np.abs(ours.astype(np.float64) - reference)
    return Agreement(float(difference[:, :4].max()), float(difference[:, 4:].max()))


def scene_frames(count: int, width: int, height: int) -> np.ndarray:
    """(count, height, width, 3) uint8 letterboxed synthetic worksite frames."""
    from pipeline.infer.letterbox import Letterbox
    from pipeline.synthetic import WorksiteScene

    scene = WorksiteScene(seed=10_001, width=1280, height=720)
    letterbox = Letterbox.fit(1280, 720, width, height)
    return np.stack([letterbox.apply(scene.render(index * 7)[0]) for index in range(count)])


def site_text(work: Path) -> str:
    text = SITE.format(
        run_dir=work / "run", model=DEMO_MODEL, engines=work / "engines", cameras=CAMERAS
    )
    return text + "".join(CAMERA.format(index=i + 1, seed=20_001 + i) for i in range(CAMERAS))


def check_parity(site_file: Path) -> Agreement:
    from engines.availability import import_tensorrt
    from engines.builder import build_engine, device_facts
    from engines.progress import RichBuildProgress
    from engines.targets import site_targets
    from pipeline.config.loading import load_site_config
    from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend
    from pipeline.infer.backends.tensorrt import TensorRtBackend

    trt = import_tensorrt()
    site = load_site_config(site_file)
    (target,) = site_targets(site)
    device = device_facts(trt, site.tensorrt.device_id)
    print(f"TensorRT {device.tensorrt_version}, CUDA {device.cuda_version}, {device.gpu_name}")
    with RichBuildProgress() as progress:
        manifest = build_engine(trt, target, device, progress)
    print(f"engine built in {manifest.build_seconds:.0f} s ({manifest.precision_route})")
    model = site.detectors[0]
    reference = OnnxRuntimeBackend(model, target.spec, site.onnxruntime, 8)
    engine = TensorRtBackend(site, model, target.spec, 8, site_file)
    frames = scene_frames(8, target.spec.input_width, target.spec.input_height)
    ours, theirs = engine.infer(frames)["output0"], reference.infer(frames)["output0"]
    engine.close()
    reference.close()
    return yolo_agreement(ours, theirs)


def run_log(run_dir: Path) -> tuple[str, set[str]]:
    """(the central log, the cameras that got at least one answer with a detection)."""
    import json

    log_file, detections = run_dir / "pipeline.log", run_dir / "detections.jsonl"
    log = log_file.read_text() if log_file.exists() else ""
    answered = set()
    if detections.exists():
        for line in detections.read_text().splitlines():
            record = json.loads(line)
            if record.get("detections"):
                answered.add(record["camera"])
    return log, answered


def run_site(site_file: Path, run_dir: Path) -> list[str]:
    """Problems seen in a 20 s run on the engine (none: it passed)."""
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.run", str(site_file), "--duration", str(SECONDS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SECONDS + 300,
    )
    problems = [] if result.returncode == 0 else [f"pipeline.run exited {result.returncode}"]
    log, answered = run_log(run_dir)
    if "on tensorrt fp16" not in log:
        problems.append("the log never says the model is ready on tensorrt fp16")
    silent = [f"CAM{i + 1}" for i in range(CAMERAS) if f"CAM{i + 1}" not in answered]
    if silent:
        problems.append(f"no detections from {', '.join(silent)}")
    if result.returncode != 0:
        problems.append(result.stderr[-2000:])
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engines.gpu_test", description=__doc__)
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args(argv)
    from engines.availability import TensorRtMissing, import_tensorrt
    from pipeline.infer.backends.cuda_memory import CudaError, cuda_device

    try:
        import_tensorrt()
        cuda_device(0)
    except (TensorRtMissing, CudaError) as error:
        print(f"gpu-test: {error}", file=sys.stderr)
        return 3
    with tempfile.TemporaryDirectory(prefix="vigia-gpu-test-") as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        site_file = work / "site.yaml"
        site_file.write_text(site_text(work))
        agreement = check_parity(site_file)
        verdict = "within" if agreement.within_tolerance else "OUTSIDE"
        print(
            f"TensorRT fp16 vs ONNX Runtime fp32, 8 frames: boxes {agreement.box_px:.3f} px "
            f"(<= {BOX_TOLERANCE_PX}), scores {agreement.score:.4f} (<= {SCORE_TOLERANCE}): {verdict}"
        )
        problems = run_site(site_file, work / "run")
        print(
            f"{CAMERAS}-camera site on the engine for {SECONDS:.0f} s: {'; '.join(problems) or 'ok'}"
        )
    return 0 if agreement.within_tolerance and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
