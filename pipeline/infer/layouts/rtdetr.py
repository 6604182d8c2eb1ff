"""The Ultralytics RT-DETR layout: 300 queries per image, boxes normalised, no NMS.

Two forms, both cx, cy, w, h in 0-1 of the input canvas:
- (B, 300, 6): cx, cy, w, h, score, class (Ultralytics 8.4 and later);
- (B, 300, 4 + classes): cx, cy, w, h, then one sigmoid score per class (older exports); each
  query proposes its best class, as Ultralytics' RT-DETR predictor does.
Ultralytics feeds RT-DETR stretched frames (no letterbox), so boxes are scaled by the input
width and height to input pixels and the caller maps them back with the stretch.
"""

from __future__ import annotations

import numpy as np

from pipeline.detections import Detections
from pipeline.infer.layouts.boxes import cxcywh_to_xyxy, select


def decode_rtdetr(
    output: np.ndarray,
    class_scores: bool,
    input_size: tuple[int, int],
    rectangles: np.ndarray,
    conf_threshold: float,
    max_detections: int,
) -> list[Detections]:
    """Decode (B, Q, 6) (`class_scores` False) or (B, Q, 4 + classes) (True) into one
    Detections per batch entry: boxes x1, y1, x2, y2 in input pixels (normalised coordinates
    times `input_size` (width, height)), clipped to the entry's rectangle, score-sorted."""
    if output.ndim != 3 or output.shape[2] < (5 if class_scores else 6):
        expected = "(B, Q, 4 + classes)" if class_scores else "(B, Q, 6)"
        raise ValueError(f"rtdetr layout: expected an output {expected}, got {output.shape}")
    width, height = input_size
    results = []
    for queries, rectangle in zip(output, rectangles, strict=True):
        boxes = cxcywh_to_xyxy(
            queries[:, 0] * np.float32(width),
            queries[:, 1] * np.float32(height),
            queries[:, 2] * np.float32(width),
            queries[:, 3] * np.float32(height),
        )
        if class_scores:
            class_ids = queries[:, 4:].argmax(axis=1)
            scores = queries[np.arange(queries.shape[0]), 4 + class_ids]
        else:
            scores, class_ids = queries[:, 4], queries[:, 5]
        results.append(select(boxes, scores, class_ids, rectangle, conf_threshold, max_detections))
    return results
