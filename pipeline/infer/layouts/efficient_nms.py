"""TensorRT's EfficientNMS plugin outputs (graphs built with EfficientNMS_TRT).

num_dets (B, 1) int32: how many rows of each image are real; det_boxes (B, K, 4) x1, y1, x2,
y2 (the plugin's BoxCorner output) in input pixels; det_scores (B, K); det_classes (B, K) int32.
Rows past num_dets hold leftovers and are never read. The graph did the NMS.
"""

from __future__ import annotations

import numpy as np

from pipeline.detections import Detections
from pipeline.infer.layouts.boxes import select


def decode_efficient_nms(
    count: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    rectangles: np.ndarray,
    conf_threshold: float,
    max_detections: int,
) -> list[Detections]:
    """Decode the four outputs into one Detections per batch entry: the first num_dets rows,
    boxes x1, y1, x2, y2 in input pixels clipped to the entry's rectangle, score-sorted."""
    batch = boxes.shape[0]
    if (
        count.size != batch
        or boxes.ndim != 3
        or boxes.shape[2] != 4
        or scores.shape != boxes.shape[:2]
        or classes.shape != boxes.shape[:2]
    ):
        raise ValueError(
            f"efficient_nms layout: expected count (B, 1), boxes (B, K, 4), scores (B, K), "
            f"classes (B, K), got {count.shape}, {boxes.shape}, {scores.shape}, {classes.shape}"
        )
    real = np.clip(count.reshape(batch).astype(np.int64), 0, boxes.shape[1])
    return [
        select(
            boxes[i, : real[i]],
            scores[i, : real[i]],
            classes[i, : real[i]],
            rectangles[i],
            conf_threshold,
            max_detections,
        )
        for i in range(batch)
    ]
