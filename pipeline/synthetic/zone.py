"""The work zone of a compliance scene, and per frame and worker whether the worker is inside
it without the PPE it requires.

The zone is a patch of ground in front of the camera, between the bottom of the frame and a
depth where a person stands `ZONE_FAR_PERSON_FRACTION` of the frame height tall, and between
two lines on the ground left and right of the view's centre (their positions come from the
seed). On the image it is that ground trapezoid cut to the frame: a convex polygon given in
fractions of the frame (0-1), so it fits the scene at any resolution, as an ROI file's
`"units": "normalized"` polygon does.

Membership follows the runtime's zone rule: a worker is inside when the bottom centre of the
person box (the feet), moved half a pixel inside the frame, lies in the polygon (its
boundary included). Person boxes are the ground truth's (amodal: hidden parts included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pipeline.config.compliance import PpeItem
from pipeline.synthetic.camera import PERSON_HEIGHT_M, GroundCamera
from pipeline.synthetic.seeding import Stream, stream
from pipeline.synthetic.truth import Box, FrameTruth, WorkerTruth

ZONE_NAME = "work_area"
# Far edge of the zone: where a person is this fraction of the frame height tall (40 px at
# 360 rows): the far end holds workers too small for the detector to judge.
ZONE_FAR_PERSON_FRACTION = 0.11
HEAD_CUT_PX = 1.0  # a person box starting this close to the top may have lost its head
DECIMALS = 4  # of the normalised coordinates written out


@dataclass(frozen=True)
class GroundPatch:
    """The zone on the ground, metres (camera.py's X to the right, Z ahead)."""

    left_m: float
    right_m: float
    near_m: float
    far_m: float

    def holds(self, x_m: float, z_m: float) -> bool:
        return self.left_m <= x_m <= self.right_m and self.near_m <= z_m <= self.far_m


@dataclass(frozen=True, eq=False)
class WorkZone:
    """A zone polygon in fractions of the frame: x of its width, y of its height, (0, 0) the
    frame's top-left corner; `ground`: the patch of ground it shows. `require`: the PPE the
    zone requires."""

    name: str
    points: np.ndarray  # (N, 2) float64, convex
    ground: GroundPatch
    require: tuple[PpeItem, ...] = (PpeItem.HELMET, PpeItem.VEST)

    def pixels(self, width: int, height: int) -> np.ndarray:
        """(N, 2) float64 polygon in pixels of a width x height frame."""
        return self.points * np.array([width, height], dtype=np.float64)

    def holds(self, box: Box, width: int, height: int) -> bool:
        """Whether a person box (frame pixels) stands in the zone: its bottom centre, moved
        half a pixel inside the frame, inside the polygon or on its boundary."""
        x = min(max((box[0] + box[2]) / 2, 0.5), width - 0.5)
        y = min(max(box[3], 0.5), height - 0.5)
        polygon = self.pixels(width, height).astype(np.float32).reshape(-1, 1, 2)
        return cv2.pointPolygonTest(polygon, (float(x), float(y)), False) >= 0

    def roi_json(self) -> dict[str, Any]:
        """The zone as an ROI file (pipeline.analytics.roi_file, normalised units)."""
        return {
            "units": "normalized",
            "polygons": {self.name: [[float(x), float(y)] for x, y in self.points]},
        }


def work_zone(seed: int, camera: GroundCamera) -> WorkZone:
    """The zone of scene `seed` seen by `camera` (module docstring)."""
    rng = stream(seed, Stream.ZONE)
    near = camera.near_depth_m * 0.9
    far = camera.focal_px * PERSON_HEIGHT_M / (ZONE_FAR_PERSON_FRACTION * camera.height)
    half_width = camera.half_view_width_m(far)
    left = -float(rng.uniform(0.45, 0.85)) * half_width
    right = float(rng.uniform(0.45, 0.85)) * half_width
    ground = [(left, near), (right, near), (right, far), (left, far)]
    trapezoid = np.array([camera.project(x, z) for x, z in ground], dtype=np.float32)
    w, h = float(camera.width), float(camera.height)
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    area, cut = cv2.intersectConvexConvex(trapezoid, frame)
    if area <= 0 or cut is None:
        raise ValueError(f"scene {seed}: the work zone misses the frame")  # cannot happen
    points = np.round(cut.reshape(-1, 2).astype(np.float64) / [w, h], DECIMALS)
    points = np.clip(points, 0.0, 1.0)
    kept = [p for i, p in enumerate(points) if not np.array_equal(p, points[i - 1])]
    patch = GroundPatch(left, right, near, far)
    return WorkZone(ZONE_NAME, np.array(kept, dtype=np.float64), patch)


@dataclass(frozen=True)
class WorkerCompliance:
    """One worker in one frame, against the zone's requirement.

    `missing`: required items the worker does not wear (whatever the zone). `judgeable`: the
    detector could judge the worker here: tall enough in the detector's input
    (`min_person_height_px`, as the runtime's rule) and at least `min_visibility` visible;
    `head_in_frame`: the top of the box is not cut by the frame's top (the runtime does not
    judge helmets then)."""

    id: int
    box: Box
    in_zone: bool
    missing: tuple[PpeItem, ...]
    judgeable: bool
    head_in_frame: bool
    visibility: float = 1.0  # the truth's: fraction of the figure in the frame and unoccluded

    @property
    def violating(self) -> bool:
        """Inside the zone without a required item."""
        return self.in_zone and bool(self.missing)

    @property
    def judgeable_violation(self) -> bool:
        """Violating, and a detector could see it: judgeable, and for a missing helmet alone,
        with the head inside the frame."""
        if not (self.violating and self.judgeable):
            return False
        return self.head_in_frame or self.missing != (PpeItem.HELMET,)


def judge_frame(
    truth: FrameTruth,
    zone: WorkZone,
    frame_size: tuple[int, int],
    input_size: tuple[int, int] | None = None,
    min_person_height_px: float = 0.0,
    min_visibility: float = 0.5,
) -> tuple[WorkerCompliance, ...]:
    """Every worker of a frame's truth against `zone`. `frame_size`: (width, height) of the
    rendered frame; `input_size`: the detector's (width, height), the frame letterboxed into
    it (None: heights in frame pixels); `min_person_height_px` in those input pixels."""
    width, height = frame_size
    scale = 1.0 if input_size is None else min(input_size[0] / width, input_size[1] / height)
    return tuple(
        _judge(worker, zone, width, height, scale, min_person_height_px, min_visibility)
        for worker in truth.workers
    )


def _judge(
    worker: WorkerTruth,
    zone: WorkZone,
    width: int,
    height: int,
    scale: float,
    min_height: float,
    min_visibility: float,
) -> WorkerCompliance:
    worn = {PpeItem.HELMET: worker.has_helmet, PpeItem.VEST: worker.has_vest}
    box = worker.person_box
    tall_enough = (box[3] - box[1]) * scale >= min_height
    return WorkerCompliance(
        id=worker.id,
        box=box,
        in_zone=zone.holds(box, width, height),
        missing=tuple(item for item in zone.require if not worn[item]),
        judgeable=tall_enough and worker.visibility >= min_visibility,
        head_in_frame=box[1] > HEAD_CUT_PX,
        visibility=worker.visibility,
    )
