"""Plane geometry for zones and boxes: numpy only, coordinates in whatever space the caller
uses (pixels of the original frame in this package). Boxes are (x1, y1, x2, y2)."""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of two sets of boxes (N, 4) and (M, 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = intersection_area(a, b)
    area_a = _area(a)[:, None]
    area_b = _area(b)[None, :]
    union = area_a + area_b - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) areas of the intersections of boxes a (N, 4) and b (M, 4)."""
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(width, 0, None) * np.clip(height, 0, None)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def self_intersection(points: np.ndarray) -> tuple[int, int] | None:
    """The first pair of edges (i, j) that cross or touch, edge i running from point i to
    point i + 1 (the last edge closes the ring); None when the polygon is simple.

    Adjacent edges share a point and are only reported when they fold back onto each other.
    O(N^2): zone polygons have a handful of points.
    """
    count = len(points)
    ring = np.asarray(points, dtype=np.float64)
    for i in range(count):
        p1, p2 = ring[i], ring[(i + 1) % count]
        for j in range(i + 1, count):
            q1, q2 = ring[j], ring[(j + 1) % count]
            adjacent = j == i + 1 or (i == 0 and j == count - 1)
            if adjacent:
                if _folds_back(p1, p2, q1, q2):
                    return (i, j)
                continue
            if _segments_meet(p1, p2, q1, q2):
                return (i, j)
    return None


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def _on_segment(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> bool:
    """r lies within the bounding box of segment p-q (used once r is known collinear)."""
    return bool(
        min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(p[1], q[1])
    )


def _segments_meet(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and _on_segment(q1, q2, p1))
        or (d2 == 0 and _on_segment(q1, q2, p2))
        or (d3 == 0 and _on_segment(p1, p2, q1))
        or (d4 == 0 and _on_segment(p1, p2, q2))
    )


def _folds_back(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    """Two consecutive edges that run back along each other (a zero-width spike)."""
    if np.array_equal(p2, q1):
        shared, a, b = p2, p1, q2
    else:  # the closing edge (last -> first) and the first edge share point 0
        shared, a, b = p1, p2, q1
    if _cross(shared, a, b) != 0:
        return False
    return float(np.dot(a - shared, b - shared)) > 0


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(K,) bool: which of `points` (K, 2) lie inside `polygon` (N, 2), by the even-odd rule.

    A point exactly on an edge may fall either way; zones are drawn by hand, so a person
    standing on the line is not a case worth a rule.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = points[:, 0:1], points[:, 1:2]
    xi, yi = polygon[:, 0][None, :], polygon[:, 1][None, :]
    xj, yj = np.roll(polygon[:, 0], 1)[None, :], np.roll(polygon[:, 1], 1)[None, :]
    straddles = (yi > y) != (yj > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = (xj - xi) * (y - yi) / (yj - yi) + xi
    crossings = straddles & (x < x_cross)
    return np.asarray(np.count_nonzero(crossings, axis=1) % 2 == 1)
