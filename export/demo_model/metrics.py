"""Average precision at an IoU threshold, with ignore regions.

Matching follows COCO: detections are taken in descending score; each is matched to the
unmatched counted ground-truth box it overlaps most (IoU >= threshold). A detection that
matches no counted box but overlaps an *ignored* box (IoU >= threshold) is dropped: neither
true nor false positive; ignored boxes are never missed. Everything else is a false positive.
AP is the area under the precision envelope over all recall points (VOC 2010+ / COCO
all-point interpolation, not the 11-point approximation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageDetections:
    """One image, one class. Boxes x1, y1, x2, y2 in one pixel space (any, but the same)."""

    boxes: np.ndarray  # (K, 4) detections
    scores: np.ndarray  # (K,)
    truth: np.ndarray  # (M, 4) ground truth
    ignore: np.ndarray  # (M,) bool: ground truth that must neither be found nor missed


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (K, 4) against every box in b (M, 4) -> (K, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_image(image: ImageDetections, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(scores, is_true_positive) of the detections that count (ignored ones removed)."""
    order = np.argsort(-np.asarray(image.scores), kind="stable")
    boxes = np.asarray(image.boxes).reshape(-1, 4)[order]
    scores = np.asarray(image.scores)[order]
    ignore = np.asarray(image.ignore, dtype=bool)
    overlaps = iou_matrix(boxes, image.truth)
    matched = np.zeros(ignore.shape[0], dtype=bool)
    kept_scores, true_positive = [], []
    for k in range(boxes.shape[0]):
        candidates = np.where(~ignore & ~matched, overlaps[k], -1.0)
        best = int(np.argmax(candidates)) if candidates.size else -1
        if best >= 0 and candidates[best] >= iou_threshold:
            matched[best] = True
            kept_scores.append(scores[k])
            true_positive.append(True)
        elif ignore.size and np.any(overlaps[k][ignore] >= iou_threshold):
            continue
        else:
            kept_scores.append(scores[k])
            true_positive.append(False)
    return np.asarray(kept_scores, dtype=np.float64), np.asarray(true_positive, dtype=bool)


def average_precision(images: list[ImageDetections], iou_threshold: float = 0.5) -> float:
    """AP over a set of images for one class; NaN when no counted ground truth exists."""
    positives = sum(int(np.count_nonzero(~np.asarray(i.ignore, dtype=bool))) for i in images)
    if positives == 0:
        return float("nan")
    matched = [match_image(image, iou_threshold) for image in images]
    scores = np.concatenate([m[0] for m in matched]) if matched else np.zeros(0)
    hits = np.concatenate([m[1] for m in matched]) if matched else np.zeros(0, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    hits = hits[order]
    true_positives = np.cumsum(hits)
    false_positives = np.cumsum(~hits)
    recall = true_positives / positives
    precision = true_positives / np.maximum(true_positives + false_positives, 1)
    return area_under_envelope(recall, precision)


def area_under_envelope(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP from cumulative recall/precision in detection order."""
    recall_points = np.concatenate([[0.0], recall, [1.0]])
    precision_points = np.concatenate([[0.0], precision, [0.0]])
    # Envelope: at each recall, the best precision reachable at that recall or beyond.
    precision_points = np.maximum.accumulate(precision_points[::-1])[::-1]
    steps = np.flatnonzero(recall_points[1:] != recall_points[:-1])
    return float(
        np.sum((recall_points[steps + 1] - recall_points[steps]) * precision_points[steps + 1])
    )
