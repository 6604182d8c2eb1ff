"""RT-DETR as exported by its own repository (lyuwenyu/RT-DETR, and RT-DETRv2's deploy script).

Inputs `images` and `orig_target_sizes` (B, 2) int64 = (width, height); outputs `labels` (B, K)
int64, `boxes` (B, K, 4) x1, y1, x2, y2 in the pixels of orig_target_sizes, `scores` (B, K),
already the top K (query, class) pairs, no NMS. The runtime feeds orig_target_sizes = the model
input size, so the boxes come in input pixels; the repository resizes frames to the input
without keeping the aspect ratio (stretch).
"""

from __future__ import annotations

import numpy as np

from pipeline.detections import Detections
from pipeline.infer.layouts.boxes import select


def target_sizes(batch: int, input_size: tuple[int, int]) -> np.ndarray:
    """The `orig_target_sizes` input for `batch` images: (batch, 2) int64 rows (width, height)
    of the model input, so that the model's boxes come in input pixels."""
    width, height = input_size
    return np.tile(np.array([[width, height]], dtype=np.int64), (batch, 1))


def decode_rtdetr_original(
    labels: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    rectangles: np.ndarray,
    conf_threshold: float,
    max_detections: int,
) -> list[Detections]:
    """Decode labels (B, K), boxes (B, K, 4), scores (B, K) into one Detections per batch
    entry, boxes x1, y1, x2, y2 in input pixels clipped to the entry's rectangle, sorted."""
    if (
        boxes.ndim != 3
        or boxes.shape[2] != 4
        or not labels.shape == scores.shape == boxes.shape[:2]
    ):
        raise ValueError(
            f"rtdetr_original layout: expected labels (B, K), boxes (B, K, 4), scores (B, K), "
            f"got {labels.shape}, {boxes.shape}, {scores.shape}"
        )
    return [
        select(image_boxes, image_scores, image_labels, rectangle, conf_threshold, max_detections)
        for image_labels, image_boxes, image_scores, rectangle in zip(
            labels, boxes, scores, rectangles, strict=True
        )
    ]
