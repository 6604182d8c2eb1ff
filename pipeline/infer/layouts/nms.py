"""Class-aware greedy non-maximum suppression, vectorised in numpy.

The result is exactly that of the classic greedy NMS (torchvision's `batched_nms`): boxes in
score order, each kept unless a kept box of its class overlaps it with IoU > threshold. It is
computed in score-ordered chunks of CHUNK boxes:
- a chunk is first tested against every box kept so far (one (chunk, kept) IoU matrix);
- inside the chunk, the greedy rule is solved on its (chunk, chunk) "suppresses" matrix by
  iterating `keep = no kept earlier box suppresses it` to its fixed point (Cluster-NMS), which
  is the greedy answer: the best box is settled after one pass, the next ones after at most
  one pass more each, and a fixed point reached earlier is already the greedy one;
- it stops once `max_kept` boxes are kept: the first `max_kept` of the greedy answer do not
  depend on the boxes after them, so the rest is never looked at.
Classes are kept apart by moving each class's boxes to its own square of the plane (a grid of
squares, so the offsets stay small and float32 keeps sub-pixel precision); boxes of different
classes then never overlap.

OpenCV's `cv2.dnn.NMSBoxesBatched` gives the same boxes but compares every candidate with every
kept box one pair at a time, about 30 ns a pair: with thousands of low-score candidates that is
tens of milliseconds per frame (bench/decode_outputs.py measures both).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

CHUNK = 128  # boxes decided per step; larger chunks leave the CPU cache, smaller cost calls
FIRST_SORTED = 4  # times max_kept: how many best boxes are sorted before any is decided


def top_scores(scores: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the `limit` highest scores (all when there are fewer), in index order.

    Ties at the limit are broken arbitrarily; this is the pre-NMS candidate cap."""
    if scores.shape[0] <= limit:
        return np.arange(scores.shape[0])
    return np.sort(np.argpartition(scores, scores.shape[0] - limit)[-limit:])


def class_aware_nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float,
    max_kept: int,
) -> np.ndarray:
    """Greedy NMS within each class: indices into the inputs of the kept boxes, highest score
    first (ties: lower index first), at most `max_kept`.

    `xyxy` (N, 4) x1, y1, x2, y2 in any one unit (pixels here); `class_ids` (N,) >= 0.
    A box is suppressed when its IoU with a kept box of the same class is > `iou_threshold`.
    """
    count = xyxy.shape[0]
    if count == 0 or max_kept <= 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = _separate_classes(np.asarray(xyxy, dtype=np.float32), class_ids)
    area = (x2 - x1) * (y2 - y1)
    # inter / union > t  <=>  inter > t / (1 + t) * (area_a + area_b)
    factor = np.float32(iou_threshold / (1.0 + iou_threshold))
    kept = np.empty(max_kept, dtype=np.int64)
    count_kept = 0
    for chunk in _score_ordered_chunks(np.asarray(scores, dtype=np.float32), max_kept):
        if count_kept:
            earlier = kept[:count_kept]
            hit = _suppresses(x1, y1, x2, y2, area, earlier, chunk, factor).any(axis=0)
            chunk = chunk[~hit]
        if chunk.shape[0] > 1:
            chunk = chunk[_greedy_within(_suppresses(x1, y1, x2, y2, area, chunk, chunk, factor))]
        take = min(chunk.shape[0], max_kept - count_kept)
        kept[count_kept : count_kept + take] = chunk[:take]
        count_kept += take
        if count_kept == max_kept:
            break
    return kept[:count_kept]


def _separate_classes(
    xyxy: np.ndarray, class_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Contiguous x1, y1, x2, y2 columns with each class moved to its own square."""
    low = min(float(xyxy.min()), 0.0)
    span = np.float32(float(xyxy.max()) - low + 1.0)
    classes = np.asarray(class_ids, dtype=np.int64)
    side = max(1, math.isqrt(int(classes.max())) + 1)  # side * side > largest class id
    dx = (classes % side).astype(np.float32) * span
    dy = (classes // side).astype(np.float32) * span
    return xyxy[:, 0] + dx, xyxy[:, 1] + dy, xyxy[:, 2] + dx, xyxy[:, 3] + dy


def _score_ordered_chunks(scores: np.ndarray, max_kept: int) -> Iterator[np.ndarray]:
    """Indices in score order (stable), CHUNK at a time. Only the best FIRST_SORTED * max_kept
    are sorted up front; the rest is sorted only if they do not fill max_kept."""
    count = scores.shape[0]
    first = min(count, max(FIRST_SORTED * max_kept, CHUNK))
    if first < count:
        cut = np.partition(scores, count - first)[count - first]
        head, tail = np.flatnonzero(scores >= cut), np.flatnonzero(scores < cut)
    else:
        head, tail = np.arange(count), np.zeros(0, dtype=np.int64)
    for part in (head, tail):
        ordered = part[np.argsort(-scores[part], kind="stable")]
        for start in range(0, ordered.shape[0], CHUNK):
            yield ordered[start : start + CHUNK]


def _suppresses(
    x1: np.ndarray,
    y1: np.ndarray,
    x2: np.ndarray,
    y2: np.ndarray,
    area: np.ndarray,
    rows: np.ndarray,
    columns: np.ndarray,
    factor: np.float32,
) -> np.ndarray:
    """(len(rows), len(columns)) bool: IoU(row box, column box) > threshold."""
    width = np.minimum.outer(x2[rows], x2[columns])
    width -= np.maximum.outer(x1[rows], x1[columns])
    np.maximum(width, 0, out=width)
    height = np.minimum.outer(y2[rows], y2[columns])
    height -= np.maximum.outer(y1[rows], y1[columns])
    np.maximum(height, 0, out=height)
    width *= height  # intersection
    bound = np.add.outer(area[rows], area[columns])
    bound *= factor
    return width > bound


def _greedy_within(suppresses: np.ndarray) -> np.ndarray:
    """Greedy keep mask of boxes in score order, from their pairwise `suppresses` matrix."""
    later = np.triu(suppresses, 1)  # only a better (earlier) box can suppress a later one
    keep = np.logical_not(later.any(axis=0))
    if keep.all():
        return keep
    for _ in range(later.shape[0]):
        settled = np.logical_not(later[keep].any(axis=0))
        if (settled == keep).all():
            break
        keep = settled
    return keep
