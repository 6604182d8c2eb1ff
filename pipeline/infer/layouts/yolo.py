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

    Order of work per image: best score per cell > conf_threshold -> clip, drop boxes left
    empty -> the `max_candidates` best -> their best class -> class-aware NMS -> at most
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
    boxes = cxcywh_to_xyxy(*(prediction[i, cells].astype(np.float32) for i in range(4)))
    visible = clip_to(boxes, rectangle)  # padding boxes go before they can use up the cap
    cells, boxes = cells[visible], boxes[visible]
    capped = top_scores(best[cells], max_candidates)
    cells, boxes = cells[capped], boxes[capped]
    scores = best[cells].astype(np.float32)
    class_ids = class_scores[:, cells].argmax(axis=0)  # the costly gather: survivors only
    kept = class_aware_nms(boxes, scores, class_ids, iou_threshold, max_detections)
    return Detections.create(boxes[kept], scores[kept], class_ids[kept])
