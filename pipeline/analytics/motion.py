"""Where a tracked worker is going: the place a lost track would be now, for handing its
state to a new track that appears there (violations.py, takeovers).

The place and the velocity come from the track's whole boxes only: a box shorter than
PARTIAL_HEIGHT of the track's usual height (a worker half behind a cabin, his head or legs
hidden) moves its edges, not the worker, so it leaves both as they were and the prediction
carries on from the last whole box (for up to a second: a box that stays that short becomes
the usual height). Boxes are (x1, y1, x2, y2) in frame pixels, times seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.analytics.geometry import box_iou, intersection_area
from pipeline.config.compliance import ViolationRules

_VELOCITY_SMOOTHING_S = 0.5  # time constant of the velocity estimate
_HEIGHT_SMOOTHING_S = 1.0  # time constant of the usual height (a worker walking nearer grows)
# A walking worker covers about one body height per second; a faster estimate comes from
# box jitter or a half-hidden box, and would carry the predicted place away from them.
TAKEOVER_MAX_SPEED = 1.5  # person heights per second
TAKEOVER_HEIGHT_RATIO = 4 / 3  # largest ratio of the two heights for a takeover by distance
PARTIAL_HEIGHT = 0.8  # a box shorter than this x the track's usual height is partly hidden
LEFT_VIEW = 0.5  # a lost track predicted with less of its box inside the frame has left it


@dataclass
class Motion:
    """One track's motion: its latest whole box, when it was seen, its usual height and its
    smoothed velocity (px/s of the box centre)."""

    box: np.ndarray
    seen: float
    height: float
    velocity: np.ndarray

    @classmethod
    def start(cls, box: np.ndarray, t: float) -> Motion:
        box = np.asarray(box, dtype=np.float64).copy()
        return cls(box, t, float(box[3] - box[1]), np.zeros(2))

    def observe(self, box: np.ndarray, t: float) -> None:
        height = float(box[3] - box[1])
        elapsed = t - self.seen
        partial = height < PARTIAL_HEIGHT * self.height and elapsed <= _HEIGHT_SMOOTHING_S
        if partial or elapsed <= 0:
            return  # partly hidden: its centre is not where the worker is
        measured = ((box[0:2] + box[2:4]) - (self.box[0:2] + self.box[2:4])) / 2 / elapsed
        blend = min(1.0, elapsed / _VELOCITY_SMOOTHING_S)
        self.velocity = self.velocity + blend * (measured - self.velocity)
        self.height += min(1.0, elapsed / _HEIGHT_SMOOTHING_S) * (height - self.height)
        self.box, self.seen = np.asarray(box, dtype=np.float64).copy(), t

    def predicted_box(self, t: float) -> np.ndarray:
        """Where the worker would be at `t`: the last whole box moved on by the velocity,
        its speed capped at TAKEOVER_MAX_SPEED heights per second."""
        height = self.box[3] - self.box[1]
        speed = float(np.hypot(*self.velocity))
        cap = TAKEOVER_MAX_SPEED * height
        velocity = self.velocity * (cap / speed) if speed > cap > 0 else self.velocity
        shift = velocity * (t - self.seen)
        return self.box + np.array([shift[0], shift[1], shift[0], shift[1]])


def inside_fraction(boxes: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """(N,) fraction of each box's area inside a frame of (width, height)."""
    frame = np.array([[0.0, 0.0, float(frame_size[0]), float(frame_size[1])]])
    inside = intersection_area(boxes, frame)[:, 0]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.where(area > 0, inside / np.where(area > 0, area, 1.0), 0.0)


def takeover_cost(new: np.ndarray, predicted: np.ndarray, rules: ViolationRules) -> np.ndarray:
    """(new, lost) centre distances in person heights where a takeover is allowed, inf where
    not; overlapping pairs (IoU >= takeover_iou) cost nothing, so they come first."""
    centres = (new[:, None, 0:2] + new[:, None, 2:4]) / 2
    places = (predicted[None, :, 0:2] + predicted[None, :, 2:4]) / 2
    heights = new[:, None, 3] - new[:, None, 1]
    lost_heights = predicted[None, :, 3] - predicted[None, :, 1]
    scale = np.maximum(np.maximum(heights, lost_heights), 1e-6)
    distance = np.hypot(*np.moveaxis(centres - places, -1, 0)) / scale
    ratio = np.maximum(heights, lost_heights) / np.maximum(np.minimum(heights, lost_heights), 1e-6)
    near = (distance <= rules.takeover_distance) & (ratio <= TAKEOVER_HEIGHT_RATIO)
    cost = np.where(near, distance, np.inf)
    return np.where(box_iou(new, predicted) >= rules.takeover_iou, 0.0, cost)
