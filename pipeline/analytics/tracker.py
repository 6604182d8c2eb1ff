"""Person tracking per camera: ByteTrack from Roboflow's `trackers` package.

Why this library: ByteTrack's own authors' code is not packaged; `supervision` shipped
`sv.ByteTrack` until 0.30 (deprecated since 0.28, and gone from 0.31) and moved tracking to
`trackers`, which is maintained (2.6.1, 2026-09), takes per-frame timestamps (its lost-track
budget is then in seconds, so cameras at 5 and 25 fps keep tracks equally long), and keeps
its id counter on the instance (`_next_track_id`, set in `__init__`): two cameras' trackers
never share ids (supervision's old class-level `STrack._count` did). Pinned in
requirements; it is installed without its dependencies because it names the GUI build of
OpenCV (`opencv-python`), which would clash with the headless build this runtime uses (its
own imports need only numpy, scipy, supervision and the cv2 module the headless wheel
provides).

Boxes are in pixels of the original frame. Track ids start at 0 for each tracker; a person
gets an id once matched on `confirm_frames` consecutive frames (NO_TRACK before that).
Memory stays bounded: the library drops a track unseen for `lost_track_s`.
"""

from __future__ import annotations

import math

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from pipeline.config.compliance import TrackingConfig
from pipeline.detections import NO_TRACK, Detections

# The library counts its lost-track buffer in frames at 30 fps; with timestamps it turns the
# buffer into seconds as buffer / 30.
_LIBRARY_REFERENCE_FPS = 30.0


class PersonTracker:
    """One camera's tracker, with its own id space.

    `frame_rate` is the camera's analysed rate (frames/s): the library scales its motion
    model's step by elapsed seconds x frame_rate, so it only sets the unit of the Kalman
    filter's step; `t` passed to `update` carries the real timing."""

    def __init__(self, config: TrackingConfig, frame_rate: float) -> None:
        if not (math.isfinite(frame_rate) and frame_rate > 0):
            raise ValueError(f"frame_rate must be a positive number of frames/s, got {frame_rate}")
        self.config = config
        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(config.lost_track_s * _LIBRARY_REFERENCE_FPS)),
            frame_rate=frame_rate,
            track_activation_threshold=config.activation_score,
            minimum_consecutive_frames=config.confirm_frames,
            minimum_iou_threshold=config.min_iou,
            high_conf_det_threshold=config.high_score,
        )
        self._last_t: float | None = None
        self._next_id = 0

    def update(self, persons: Detections, t: float) -> Detections:
        """The same person detections, in the same order, with `track_id` filled (NO_TRACK
        for a person not yet confirmed or left unmatched). `t`: seconds on the camera's
        timeline, strictly increasing from call to call."""
        if not math.isfinite(t):
            raise ValueError(f"t must be a finite number of seconds, got {t}")
        if self._last_t is not None and t <= self._last_t:
            raise ValueError(f"t must increase from frame to frame: got {t} after {self._last_t}")
        self._last_t = t
        boxes = sv.Detections(
            xyxy=persons.xyxy.astype(np.float32).reshape(-1, 4),
            confidence=persons.score.astype(np.float32),
            class_id=np.zeros(len(persons), dtype=int),
            data={"row": np.arange(len(persons))},
        )
        tracked = self._tracker.update(boxes, timestamp=float(t))
        track_id = np.full(len(persons), NO_TRACK, dtype=np.int32)
        if len(tracked):
            rows = np.asarray(tracked.data["row"], dtype=np.intp)
            track_id[rows] = np.asarray(tracked.tracker_id, dtype=np.int32)
            self._next_id = max(self._next_id, int(track_id.max()) + 1)
        return persons.replace(track_id=track_id)

    @property
    def live_tracks(self) -> int:
        """Tracks the library holds (matched or lost but not yet dropped): bounded by the
        people seen within the last `lost_track_s`."""
        return len(self._tracker.tracks)

    @property
    def ids_seen(self) -> int:
        """Distinct track ids returned so far (ids are issued 0, 1, 2...)."""
        return self._next_id
