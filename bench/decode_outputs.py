"""Cost per image of decoding each detector output layout, and the NMS against the previous one.

    python -m bench.decode_outputs [--rounds 5] [--batch 4] [--max-detections 100]

Outputs are synthetic arrays of real sizes (640x640 input, 80 classes): YOLO (B, 84, 8,400)
with few candidates (3 objects) or with 5,000 cells above the threshold (40 objects seen by
their neighbouring cells, a tenth of those cells voting for another class, a fifth scattered
anywhere, padding included), end2end (B, 300, 6), Ultralytics RT-DETR (B, 300, 6) and
(B, 300, 84), RT-DETR's own export, EfficientNMS. Boxes are decoded for a 640x360 frame
letterboxed into the canvas (rows 140..500 are image).

NMS, same 5,000-candidate sets: `pipeline.infer.layouts.nms.class_aware_nms` against the
greedy numpy NMS the runtime used before (kept here as `previous_greedy_nms`, the code of the
former `pipeline/infer/decode.py`) and OpenCV's `cv2.dnn.NMSBoxesBatched`; all three must keep
the same boxes. Rounds are interleaved; each figure is the median over rounds, the old/new ratio
the median of each round's ratio. Thresholds: the site defaults (conf 0.35, IoU 0.5).

Last line: `nms_5000=N.NN ms old/new=NNN.Nx yolo_decode=N.NN ms yolo_5000_decode=N.NN ms ...`
(milliseconds per image).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from pipeline.infer.layouts import Layout, LayoutInfo, Preprocessing, decode
from pipeline.infer.layouts.nms import class_aware_nms

SIZE = 640
CLASSES = 80
CELLS = 8400
CONTENT = (0.0, 140.0, 640.0, 500.0)  # a 640x360 frame letterboxed into 640x640
Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (N, 4), scores (N,), classes (N,)


def previous_greedy_nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """The runtime's former class-aware NMS: classes shifted apart, then one greedy loop with
    one vectorised IoU row per kept box. Indices of kept boxes, best first."""
    span = float(boxes.max()) - float(min(boxes.min(), 0.0)) + 1.0
    shifted = boxes + (class_ids.astype(np.float32) * span)[:, None]
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        if rest.size == 0:
            break
        box, others = shifted[best], shifted[rest]
        width = np.clip(
            np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None
        )
        height = np.clip(
            np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None
        )
        inter = width * height
        area = (box[2] - box[0]) * (box[3] - box[1])
        areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
        union = area + areas - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def opencv_batched_nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float
) -> np.ndarray:
    xywh = boxes.copy()
    xywh[:, 2:] -= xywh[:, :2]
    classes = class_ids.astype(np.int32)
    # The stubs ask for sequences; the binding takes arrays (a list conversion would be timed).
    kept = cv2.dnn.NMSBoxesBatched(xywh, scores, classes, 0.0, iou_threshold)  # type: ignore[arg-type]
    return np.asarray(kept, dtype=np.int64).reshape(-1)


def yolo_outputs(rng: np.random.Generator, batch: int, candidates: int, objects: int) -> np.ndarray:
    """(batch, 4 + CLASSES, CELLS): background cells score < 0.01, `candidates` cells above."""
    out = np.empty((batch, 4 + CLASSES, CELLS), dtype=np.float32)
    for image in out:
        image[4:] = rng.uniform(0, 0.01, (CLASSES, CELLS))
        image[0:2] = rng.uniform(0, SIZE, (2, CELLS))
        image[2:4] = rng.uniform(4, 64, (2, CELLS))
        cells = rng.choice(CELLS, candidates, replace=False)
        centres = rng.uniform((40, 160), (600, 480), (objects, 2))
        sizes = rng.uniform(20, 250, (objects, 2))
        object_class = rng.integers(0, CLASSES, objects)
        which = rng.integers(0, objects, candidates)
        centre = centres[which] + rng.normal(0, 0.06, (candidates, 2)) * sizes[which]
        size = sizes[which] * rng.normal(1, 0.1, (candidates, 2))
        classes = object_class[which]
        other = rng.random(candidates) < 0.1
        classes[other] = rng.integers(0, CLASSES, int(other.sum()))
        scattered = rng.random(candidates) < 0.2
        centre[scattered] = rng.uniform(0, SIZE, (int(scattered.sum()), 2))
        size[scattered] = rng.uniform(4, 80, (int(scattered.sum()), 2))
        image[0:2, cells] = centre.T
        image[2:4, cells] = np.abs(size).T
        image[4 + classes, cells] = rng.uniform(0.36, 1.0, candidates)
    return out


def candidate_sets(outputs: np.ndarray, conf: float) -> list[Candidates]:
    """Per image the NMS input both implementations get: best class per cell above `conf`,
    corners in input pixels."""
    sets: list[Candidates] = []
    for image in outputs:
        best = image[4:].max(axis=0)
        cells = np.flatnonzero(best > conf)
        cx, cy, w, h = image[:4, cells]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        sets.append((boxes, best[cells], image[4:, cells].argmax(axis=0)))
    return sets


def layout_outputs(rng: np.random.Generator, batch: int) -> dict[str, tuple[LayoutInfo, dict]]:
    def info(layout: Layout, outputs: tuple[str, ...], **fields: object) -> LayoutInfo:
        return LayoutInfo(
            layout=layout,
            preprocessing=Preprocessing.LETTERBOX,
            num_classes=CLASSES,
            normalised_boxes=layout is Layout.RTDETR,
            image_input="images",
            outputs=outputs,
            **fields,  # type: ignore[arg-type]
        )

    rows = np.zeros((batch, 300, 6), dtype=np.float32)
    corners = rng.uniform(0, 400, (batch, 100, 2))
    rows[:, :100, 0:2] = corners
    rows[:, :100, 2:4] = corners + rng.uniform(10, 200, (batch, 100, 2))
    rows[:, :100, 4] = rng.uniform(0.1, 1, (batch, 100))
    rows[:, :100, 5] = rng.integers(0, CLASSES, (batch, 100))
    queries = rng.uniform(0.05, 0.6, (batch, 300, 6)).astype(np.float32)
    queries[..., 4] = rng.uniform(0, 1, (batch, 300))
    queries[..., 5] = rng.integers(0, CLASSES, (batch, 300))
    per_class = rng.uniform(0, 0.4, (batch, 300, 4 + CLASSES)).astype(np.float32)
    per_class[..., :4] = queries[..., :4]
    return {
        "end2end": (info(Layout.END2END, ("output0",)), {"output0": rows}),
        "rtdetr": (info(Layout.RTDETR, ("output0",)), {"output0": queries}),
        "rtdetr_classes": (
            info(Layout.RTDETR, ("output0",), class_scores=True),
            {"output0": per_class},
        ),
        "rtdetr_original": (
            info(Layout.RTDETR_ORIGINAL, ("labels", "boxes", "scores")),
            {
                "labels": rows[..., 5].astype(np.int64),
                "boxes": np.ascontiguousarray(rows[..., :4]),
                "scores": np.ascontiguousarray(rows[..., 4]),
            },
        ),
        "efficient_nms": (
            info(Layout.EFFICIENT_NMS, ("num_dets", "det_boxes", "det_scores", "det_classes")),
            {
                "num_dets": np.full((batch, 1), 100, dtype=np.int32),
                "det_boxes": np.ascontiguousarray(rows[:, :100, :4]),
                "det_scores": np.ascontiguousarray(rows[:, :100, 4]),
                "det_classes": rows[:, :100, 5].astype(np.int32),
            },
        ),
    }


def per_call_ms(function: Callable[[], object], repeats: int) -> float:
    function()  # warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4, help="images per decoded batch")
    parser.add_argument("--max-detections", type=int, default=100, help="site default: 100")
    parser.add_argument("--conf", type=float, default=0.35)
    parser.add_argument("--iou", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rng = np.random.default_rng(args.seed)
    batch, max_det = args.batch, args.max_detections
    yolo = LayoutInfo(Layout.YOLO, Preprocessing.LETTERBOX, CLASSES, False, "images", ("output0",))
    few = yolo_outputs(rng, batch, candidates=30, objects=3)
    many = yolo_outputs(rng, batch, candidates=5000, objects=40)
    sets = candidate_sets(many, args.conf)
    others = layout_outputs(rng, batch)
    content = [CONTENT] * batch

    for boxes, scores, classes in sets:  # the three NMS agree before anything is timed
        new = class_aware_nms(boxes, scores, classes, args.iou, max_det)
        old = previous_greedy_nms(boxes, scores, classes, args.iou)[:max_det]
        opencv = opencv_batched_nms(boxes, scores, classes, args.iou)[:max_det]
        if not (new.tolist() == old.tolist() == opencv.tolist()):
            raise SystemExit("the NMS implementations disagree: a bug")
    print(
        f"yolo 5,000: {np.mean([len(s[1]) for s in sets]):.0f} candidates above {args.conf} "
        f"per image; previous NMS keeps "
        f"{np.mean([len(previous_greedy_nms(*s, args.iou)) for s in sets]):.0f} before the cap"
    )

    def run_nms(function: Callable[..., np.ndarray]) -> Callable[[], object]:
        return lambda: [function(*candidate, args.iou) for candidate in sets]

    def run_decode(info: LayoutInfo, outputs: dict, rectangles: object) -> Callable[[], object]:
        return lambda: decode(
            info,
            outputs,
            args.conf,
            args.iou,
            max_det,
            input_size=(SIZE, SIZE),
            content=rectangles,  # type: ignore[arg-type]
        )

    timed: dict[str, list[float]] = {}
    ratios = []
    for number in range(1, args.rounds + 1):
        figures = {
            "nms_5000": per_call_ms(
                run_nms(lambda b, s, c, t: class_aware_nms(b, s, c, t, max_det)), 20
            )
            / batch,
            "nms_5000_previous": per_call_ms(run_nms(previous_greedy_nms), 2) / batch,
            "nms_5000_opencv": per_call_ms(run_nms(opencv_batched_nms), 2) / batch,
            "yolo_decode": per_call_ms(run_decode(yolo, {"output0": few}, content), 20) / batch,
            "yolo_5000_decode": per_call_ms(run_decode(yolo, {"output0": many}, content), 10)
            / batch,
        }
        for name, (info, outputs) in others.items():
            figures[name] = per_call_ms(run_decode(info, outputs, None), 50) / batch
        for name, value in figures.items():
            timed.setdefault(name, []).append(value)
        ratios.append(figures["nms_5000_previous"] / figures["nms_5000"])
        print(
            f"round {number}: "
            + ", ".join(f"{name} {value:.3f} ms" for name, value in figures.items())
        )
    median = {name: statistics.median(values) for name, values in timed.items()}
    print(
        f"per image, batch {batch}, max_detections {max_det}: NMS of 5,000 candidates "
        f"{median['nms_5000']:.2f} ms, previous greedy {median['nms_5000_previous']:.1f} ms, "
        f"OpenCV NMSBoxesBatched {median['nms_5000_opencv']:.1f} ms"
    )
    tail = " ".join(
        f"{name}={median[name]:.2f} ms"
        for name in ("end2end", "rtdetr", "rtdetr_classes", "rtdetr_original", "efficient_nms")
    )
    print(
        f"nms_5000={median['nms_5000']:.2f} ms old/new={statistics.median(ratios):.1f}x "
        f"yolo_decode={median['yolo_decode']:.2f} ms "
        f"yolo_5000_decode={median['yolo_5000_decode']:.2f} ms {tail}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
