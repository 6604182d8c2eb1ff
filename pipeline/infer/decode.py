"""Decode raw detector outputs into boxes: the YOLO layout and non-maximum suppression.

A decoded detection is one row of 6 float32 values: x1, y1, x2, y2, score, class_id, in
model-input pixels; `Letterbox.to_original` maps the boxes back to the camera frame.
"""

from __future__ import annotations

import numpy as np

DETECTION_COLUMNS = 6  # x1, y1, x2, y2, score, class_id


def empty_detections() -> np.ndarray:
    return np.zeros((0, DETECTION_COLUMNS), dtype=np.float32)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) against boxes (N, 4), all x1, y1, x2, y2."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS; returns indices of kept boxes, highest score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Class-aware NMS: boxes of different classes never suppress each other.

    Shifting each class into its own disjoint region of the plane lets one NMS pass do it.
    """
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(boxes.max()) - float(min(boxes.min(), 0.0)) + 1.0
    shifted = boxes + (class_ids.astype(np.float32) * span)[:, None]
    return nms(shifted, scores, iou_threshold)


def decode_yolo(
    output: np.ndarray,
    conf_threshold: float,
    iou_threshold: float,
    max_detections: int = 300,
) -> list[np.ndarray]:
    """Decode a YOLOv8/11-layout output (B, 4 + nc, N): cx, cy, w, h in input pixels, then
    per-class scores. Returns per image a (K, 6) float32 array sorted by score, K <= max_detections.
    """
    if output.ndim != 3 or output.shape[1] < 5:
        raise ValueError(f"expected a YOLO output of shape (B, 4 + nc, N), got {output.shape}")
    results = []
    for prediction in output:
        scores = prediction[4:]
        class_ids = scores.argmax(axis=0)
        best = np.take_along_axis(scores, class_ids[None, :], axis=0)[0]
        candidates = np.flatnonzero(best > conf_threshold)
        if candidates.size == 0:
            results.append(empty_detections())
            continue
        cx, cy, w, h = prediction[:4, candidates]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        kept = batched_nms(boxes, best[candidates], class_ids[candidates], iou_threshold)
        kept = kept[:max_detections]
        detections = np.empty((kept.size, DETECTION_COLUMNS), dtype=np.float32)
        detections[:, :4] = boxes[kept]
        detections[:, 4] = best[candidates][kept]
        detections[:, 5] = class_ids[candidates][kept]
        results.append(detections)
    return results
