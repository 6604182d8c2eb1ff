"""Evaluate the shipped ONNX detector on held-out synthetic scenes, through the runtime.

    python -m export.demo_model.evaluate --frames 300 --seed 12345

Frames come from several scenes derived from --seed (which must be >= TRAIN_SEED_LIMIT, so
none was seen in training), at mixed frame sizes. They go through exactly the runtime's path:
`Letterbox` into the model input, `to_model_input`, `OnnxRuntimeBackend.infer`,
`decode_yolo`, `Letterbox.to_original`. AP at IoU 0.5 is computed per class in frame pixels,
with the ignore rules of `dataset.EVALUATION_RULES`. The last line printed is
`mAP50 person=0.xx helmet=0.xx vest=0.xx`.
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from export.demo_model import CLASS_NAMES, DEFAULT_ONNX
from export.demo_model.dataset import EVALUATION_RULES, TRAIN_SEED_LIMIT, label_truth
from export.demo_model.metrics import ImageDetections, average_precision
from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend
from pipeline.infer.layouts import decode
from pipeline.infer.letterbox import Letterbox
from pipeline.synthetic import FrameTruth, WorksiteScene

logger = logging.getLogger(__name__)

EVALUATION_SIZES = ((640, 360), (1280, 720), (1920, 1080), (960, 540), (640, 480))
FRAMES_PER_SCENE = 15
FRAME_SPACING = 10  # evaluated frames of one scene are 1 s apart at 10 frames/s
SCENE_SEED_STEP = 1009
CONF_THRESHOLD = 0.001  # keep low-score detections: AP integrates over all of them
NMS_IOU = 0.6
MAX_DETECTIONS = 300  # per image, as Ultralytics validates


@dataclass(frozen=True)
class EvaluationFrame:
    scene_seed: int
    width: int
    height: int
    index: int


@dataclass
class EvaluationResult:
    ap50: dict[str, float]
    counted: dict[str, int]  # ground truth held against the detector, per class
    ignored: dict[str, int]  # ground truth in ignore regions, per class
    frames: int
    sizes: list[tuple[int, int]] = field(default_factory=list)

    def summary_line(self) -> str:
        return "mAP50 " + " ".join(f"{name}={self.ap50[name]:.2f}" for name in CLASS_NAMES)


def evaluation_plan(seed: int, frames: int) -> list[EvaluationFrame]:
    """Which frames to evaluate: scenes `seed`, `seed + SCENE_SEED_STEP`, ... cycling through
    EVALUATION_SIZES, FRAMES_PER_SCENE frames each (fewer in the last)."""
    if seed < TRAIN_SEED_LIMIT:
        raise ValueError(
            f"evaluation seeds must be >= {TRAIN_SEED_LIMIT} (lower seeds are training scenes)"
        )
    if frames <= 0:
        raise ValueError(f"frames must be positive, got {frames}")
    plan = []
    for k in range(math.ceil(frames / FRAMES_PER_SCENE)):
        scene_seed = seed + k * SCENE_SEED_STEP
        width, height = EVALUATION_SIZES[k % len(EVALUATION_SIZES)]
        start = int(np.random.default_rng([scene_seed, 1]).integers(0, 3000))
        count = min(FRAMES_PER_SCENE, frames - k * FRAMES_PER_SCENE)
        plan += [
            EvaluationFrame(scene_seed, width, height, start + j * FRAME_SPACING)
            for j in range(count)
        ]
    return plan


def evaluate(
    model_path: str | Path = DEFAULT_ONNX, frames: int = 300, seed: int = 12345, batch_size: int = 8
) -> EvaluationResult:
    backend = OnnxRuntimeBackend.from_path(Path(model_path), batch_size)
    spec = backend.spec
    if spec.class_names != CLASS_NAMES:
        raise ValueError(f"{model_path}: classes {spec.class_names}, expected {CLASS_NAMES}")
    input_w, input_h = spec.input_width, spec.input_height
    per_class: dict[int, list[ImageDetections]] = {c: [] for c in range(len(CLASS_NAMES))}
    counted = dict.fromkeys(CLASS_NAMES, 0)
    ignored = dict.fromkeys(CLASS_NAMES, 0)
    plan = evaluation_plan(seed, frames)
    scenes: dict[int, WorksiteScene] = {}
    for first in range(0, len(plan), batch_size):
        chunk = plan[first : first + batch_size]
        images = np.empty((len(chunk), input_h, input_w, 3), dtype=np.uint8)
        geometry: list[tuple[Letterbox, FrameTruth]] = []
        for slot, item in enumerate(chunk):
            scene = scenes.get(item.scene_seed)
            if scene is None:
                scenes.clear()  # plans visit scenes one after another
                scene = WorksiteScene(item.scene_seed, item.width, item.height)
                scenes[item.scene_seed] = scene
            frame, truth = scene.render(item.index)
            letterbox = Letterbox.fit(item.width, item.height, input_w, input_h)
            letterbox.apply(frame, out=images[slot])
            geometry.append((letterbox, truth))
        content = [
            (lb.pad_x, lb.pad_y, lb.pad_x + lb.new_w, lb.pad_y + lb.new_h) for lb, _ in geometry
        ]
        decoded = decode(
            spec.layout,
            backend.infer(images),
            CONF_THRESHOLD,
            NMS_IOU,
            MAX_DETECTIONS,
            input_size=(input_w, input_h),
            content=content,
        )
        for detections, (letterbox, truth) in zip(decoded, geometry, strict=True):
            boxes = letterbox.to_original(detections.xyxy)
            labels = label_truth(truth, EVALUATION_RULES, letterbox.scale_y)
            for class_id, name in enumerate(CLASS_NAMES):
                mine = detections.class_id == class_id
                of_class = labels.classes == class_id
                counted[name] += int(np.count_nonzero(of_class & ~labels.ignore))
                ignored[name] += int(np.count_nonzero(of_class & labels.ignore))
                per_class[class_id].append(
                    ImageDetections(
                        boxes[mine],
                        detections.score[mine],
                        labels.boxes[of_class],
                        labels.ignore[of_class],
                    )
                )
    backend.close()
    ap50 = {name: average_precision(per_class[c], 0.5) for c, name in enumerate(CLASS_NAMES)}
    sizes = sorted({(item.width, item.height) for item in plan})
    return EvaluationResult(ap50, counted, ignored, len(plan), sizes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=Path(DEFAULT_ONNX), help="ONNX file")
    parser.add_argument("--frames", type=int, default=300, help="frames to evaluate")
    parser.add_argument("--seed", type=int, default=12345, help=f">= {TRAIN_SEED_LIMIT}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s [%(levelname)s] %(message)s")
    result = evaluate(args.model, args.frames, args.seed)
    sizes = ", ".join(f"{w}x{h}" for w, h in result.sizes)
    print(f"{result.frames} frames from seed {args.seed} ({sizes})")
    for name in CLASS_NAMES:
        print(
            f"  {name:7s} AP50 {result.ap50[name]:.3f}  "
            f"({result.counted[name]} counted, {result.ignored[name]} ignored)"
        )
    print(result.summary_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
