"""The end2end layout: detectors whose graph already selects the boxes.

Ultralytics `nms=True` exports, YOLOv10 and YOLO26 give (B, K, 6) rows x1, y1, x2, y2 in input
pixels, score, class index (a float), with unused rows zero-padded (score 0, never above a
positive threshold). No NMS is applied here: the graph did it, or its one-to-one head needs
none.
"""

from __future__ import annotations

import numpy as np

from pipeline.detections import Detections
from pipeline.infer.layouts.boxes import select


def decode_end2end(
    output: np.ndarray, rectangles: np.ndarray, conf_threshold: float, max_detections: int
) -> list[Detections]:
    """Decode (B, K, 6) into one Detections per batch entry, boxes x1, y1, x2, y2 in input
    pixels clipped to that entry's rectangle (B, 4), score-sorted, at most max_detections."""
    if output.ndim != 3 or output.shape[2] != 6:
        raise ValueError(f"end2end layout: expected an output (B, K, 6), got {output.shape}")
    return [
        select(rows[:, :4], rows[:, 4], rows[:, 5], rectangle, conf_threshold, max_detections)
        for rows, rectangle in zip(output, rectangles, strict=True)
    ]
