"""The YOLO layout (Ultralytics YOLOv8, YOLO11, YOLO-World, no NMS in the graph).

Output (B, 4 + classes, N): per cell cx, cy, w, h in input pixels, then one sigmoid score per
class. Each cell proposes its best class (as Ultralytics predicts by default, one label per
cell); class-aware NMS then removes duplicates.
"""

from __future__ import annotations

import numpy as np

from pipeline.detections import Detections
from pipeline.infer.layouts.boxes import clip_to, cxcywh_to_xyxy
from pipeline.infer.layouts.nms import class_aware_nms, top_scores

MAX_CANDIDATES = 30_000
"""Pre-NMS cap per image: only the best-scoring cells enter NMS (Ultralytics' `max_nms`).
At 640x640 (8,400 cells) it never binds; it bounds the cost of large inputs."""


def decode_yolo(
    output: np.ndarray,
    rectangles: np.ndarray,
    conf_threshold: float,
    iou_threshold: float,
    max_detections: int,
    max_candidates: int = MAX_CANDIDATES,
) -> list[Detections]:
    """Decode (B, 4 + classes, N) into one Detections per batch entry, boxes x1, y1, x2, y2 in
    input pixels clipped to that entry's rectangle (B, 4) of real image, score-sorted.

    Order of work per image: best class per cell -> score > conf_threshold -> the
    `max_candidates` best -> clip, drop boxes left empty -> class-aware NMS -> at most
    `max_detections`.
    """
    if output.ndim != 3 or output.shape[1] < 5:
        raise ValueError(f"yolo layout: expected an output (B, 4 + classes, N), got {output.shape}")
    return [
        _decode_image(
            prediction,
            rectangle,
            conf_threshold,
            iou_threshold,
            max_detections,
            max_candidates,
        )
        for prediction, rectangle in zip(output, rectangles, strict=True)
    ]


def _decode_image(
    prediction: np.ndarray,
    rectangle: np.ndarray,
    conf_threshold: float,
    iou_threshold: float,
    max_detections: int,
    max_candidates: int,
) -> Detections:
    class_scores = prediction[4:]
    best = class_scores.max(axis=0)
    cells = np.flatnonzero(best > conf_threshold)
    if cells.shape[0] == 0:
        return Detections.empty()
    cells = cells[top_scores(best[cells], max_candidates)]
    columns = prediction[:, cells]  # one gather of the candidates' rows, (4 + classes, n)
    scores = best[cells].astype(np.float32)
    class_ids = columns[4:].argmax(axis=0)
    boxes = cxcywh_to_xyxy(*(columns[i].astype(np.float32, copy=False) for i in range(4)))
    visible = clip_to(boxes, rectangle)
    boxes, scores, class_ids = boxes[visible], scores[visible], class_ids[visible]
    kept = class_aware_nms(boxes, scores, class_ids, iou_threshold, max_detections)
    return Detections.create(boxes[kept], scores[kept], class_ids[kept])
