"""Box steps every decoder shares: centre format to corners, the real image's rectangle,
clipping to it, and thresholding, sorting and capping a frame's detections.

All boxes here are x1, y1, x2, y2 in input pixels (the model's input canvas).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.detections import Detections

Rectangle = tuple[float, float, float, float]


def cxcywh_to_xyxy(
    cx: np.ndarray, cy: np.ndarray, width: np.ndarray, height: np.ndarray
) -> np.ndarray:
    """(N,) centre, width, height -> (N, 4) float32 corners, same units."""
    boxes = np.empty((cx.shape[0], 4), dtype=np.float32)
    half_w = width * 0.5
    half_h = height * 0.5
    np.subtract(cx, half_w, out=boxes[:, 0])
    np.subtract(cy, half_h, out=boxes[:, 1])
    np.add(cx, half_w, out=boxes[:, 2])
    np.add(cy, half_h, out=boxes[:, 3])
    return boxes


def content_rectangles(
    content: Sequence[Rectangle] | np.ndarray | None, batch: int, input_size: tuple[int, int]
) -> np.ndarray:
    """(batch, 4) float32 rectangles of real image per batch entry, in input pixels.

    `content` holds one (x1, y1, x2, y2) per image: for a letterboxed frame the resized image
    without its padding, (pad_x, pad_y, pad_x + new_w, pad_y + new_h). None: the whole input
    canvas (0, 0, width, height) for every entry. A count that differs from the batch is an
    error, never a silent truncation: slice a padded fixed batch to its real images first.
    """
    width, height = input_size
    if content is None:
        return np.tile(np.array([0, 0, width, height], dtype=np.float32), (batch, 1))
    rectangles = np.asarray(content, dtype=np.float32)
    if rectangles.ndim != 2 or rectangles.shape[1] != 4:
        raise ValueError(f"content: expected (images, 4) rectangles, got shape {rectangles.shape}")
    if rectangles.shape[0] != batch:
        raise ValueError(
            f"content has {rectangles.shape[0]} rectangles for a batch of {batch} outputs: "
            f"slice the outputs to the real images before decoding"
        )
    if not (rectangles[:, 2:] > rectangles[:, :2]).all():
        raise ValueError(f"content rectangles must have x2 > x1 and y2 > y1, got {rectangles}")
    return rectangles


def clip_to(xyxy: np.ndarray, rectangle: np.ndarray) -> np.ndarray:
    """Clip (N, 4) boxes to `rectangle` (4,) in place; returns the mask of boxes that keep a
    positive area (boxes wholly outside, inverted or NaN are False)."""
    np.clip(xyxy[:, 0::2], rectangle[0], rectangle[2], out=xyxy[:, 0::2])
    np.clip(xyxy[:, 1::2], rectangle[1], rectangle[3], out=xyxy[:, 1::2])
    return (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])


def select(
    xyxy: np.ndarray,
    score: np.ndarray,
    class_id: np.ndarray,
    rectangle: np.ndarray,
    conf_threshold: float,
    max_detections: int,
) -> Detections:
    """One frame's final detections from candidates that need no NMS.

    Keeps score > conf_threshold and class >= 0, clips to `rectangle`, drops boxes left
    empty, then sorts by score (highest first, stable) and keeps `max_detections`. The
    empty boxes go before the cap, so predictions inside the padding never use it up.
    """
    score = np.asarray(score, dtype=np.float32)
    class_id = np.asarray(class_id)
    if class_id.dtype.kind == "f":
        class_id = np.rint(class_id)  # float class columns (end2end rows) carry exact integers
    passing = np.flatnonzero((score > conf_threshold) & (class_id >= 0))
    boxes = np.array(xyxy[passing], dtype=np.float32)
    kept = clip_to(boxes, rectangle)
    passing, boxes = passing[kept], boxes[kept]
    order = np.argsort(-score[passing], kind="stable")[:max_detections]
    return Detections.create(boxes[order], score[passing[order]], class_id[passing[order]])
