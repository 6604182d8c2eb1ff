"""A synthetic worksite camera: `WorksiteScene(seed, width, height, fps).render(index)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import cv2
import numpy as np

from pipeline.synthetic.background import Prop, StaticLayer, build_static_layer
from pipeline.synthetic.camera import GroundCamera
from pipeline.synthetic.clutter import Distractor
from pipeline.synthetic.figures import FigureRaster, Part, PixelBox, draw_figure
from pipeline.synthetic.script import ScriptedCrowd, plan_layout
from pipeline.synthetic.sensor import Sensor
from pipeline.synthetic.trajectory import Crowd, WorkerState
from pipeline.synthetic.truth import Box, FrameTruth, WorkerTruth
from pipeline.synthetic.zone import WorkZone, work_zone


@dataclass
class _Placed:
    """A figure composited into the frame: where its patch went, for the truth afterwards."""

    order: int
    state: WorkerState
    raster: FigureRaster
    origin: tuple[int, int]  # patch top-left in frame pixels (may be outside the frame)
    window: tuple[int, int, int, int]  # x1, y1, x2, y2: the part of the patch inside the frame


class WorksiteScene:
    """One fixed camera over a worksite, with workers coming and going.

    `render(index)` depends only on (seed, width, height, fps, index): frames can be rendered
    in any order, and a frame's ground truth can be regenerated from its index. The layout,
    clutter and camera come from the seed; workers follow paths parametric in time
    t = index / fps; noise is seeded from (seed, index).

    With `compliance`, the scene keeps the seed's camera, ground, clutter and sensor but
    gets a work zone (`zone`), props (a cabin, a hard hat on a crate and a vest-coloured tarp
    inside the zone) and scripted workers instead of the random crowd: hard hats and vests
    taken off and put back on mid-visit, crossings, walks behind the cabin, far workers
    (script.py). Without it (the default) frames and truth are exactly the plain scene's.
    """

    def __init__(
        self,
        seed: int = 0,
        width: int = 640,
        height: int = 360,
        fps: float = 10.0,
        compliance: bool = False,
    ):
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if width < 32 or height < 32:
            raise ValueError(f"frame size must be at least 32x32, got {width}x{height}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.seed = seed
        self.width = width
        self.height = height
        self.fps = float(fps)
        self.compliance = compliance
        self.camera = GroundCamera.random(seed, width, height)
        self._crowd: Crowd | ScriptedCrowd
        self._props: tuple[Prop, ...] = ()
        self.zone: WorkZone | None = None  # compliance scenes only
        if compliance:
            self.zone = work_zone(seed, self.camera)
            layout = plan_layout(seed, self.camera, self.zone)
            self._props = layout.props(seed)
            self._crowd = ScriptedCrowd(seed, self.camera, self.zone, layout)
        else:
            self._crowd = Crowd(seed, self.camera)
        self._sensor = Sensor(seed, width, height)
        self._static: StaticLayer | None = None

    @overload
    def render(
        self, index: int, with_masks: Literal[False] = False
    ) -> tuple[np.ndarray, FrameTruth]: ...

    @overload
    def render(
        self, index: int, with_masks: Literal[True]
    ) -> tuple[np.ndarray, FrameTruth, dict[int, np.ndarray]]: ...

    def render(
        self, index: int, with_masks: bool = False
    ) -> tuple[np.ndarray, FrameTruth] | tuple[np.ndarray, FrameTruth, dict[int, np.ndarray]]:
        """Frame `index` as (H, W, 3) uint8 BGR and its truth (boxes in frame pixels).

        With `with_masks`, also each listed worker's visible pixels as an (H, W) bool mask.
        """
        if index < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        t = index / self.fps
        static = self._static_layer()
        frame = static.image.copy()
        owner = np.full((self.height, self.width), -1, dtype=np.int16)
        placed = self._composite(frame, owner, static, self._crowd.states_at(t))
        workers = [truth for truth in (self._truth(p, owner) for p in placed) if truth]
        self._sensor.apply(frame, index, t)
        result = FrameTruth(index=index, workers=workers)
        if not with_masks:
            return frame, result
        kept = {truth.id for truth in workers}
        masks = {p.state.worker_id: owner == p.order for p in placed if p.state.worker_id in kept}
        return frame, result, masks

    @property
    def script(self) -> ScriptedCrowd | None:
        """The scripted visits of a compliance scene (None for a plain scene)."""
        return self._crowd if isinstance(self._crowd, ScriptedCrowd) else None

    @property
    def distractors(self) -> tuple[Distractor, ...]:
        """Hard hats on crates, tarps and cones in this scene: never in the ground truth."""
        return self._static_layer().distractors

    def _static_layer(self) -> StaticLayer:
        if self._static is None:
            self._static = build_static_layer(self.seed, self.camera, self._props)
        return self._static

    def _composite(
        self, frame: np.ndarray, owner: np.ndarray, static: StaticLayer, states: list[WorkerState]
    ) -> list[_Placed]:
        """Draw workers back to front; `owner` gets each visible pixel's drawing order."""
        on_screen = []
        for state in states:
            u, v = self.camera.project(state.x_m, state.z_m)
            height_px = self.camera.pixels_per_metre(state.z_m) * state.appearance.height_m
            reach = 0.4 * height_px + 2
            if u + reach < 0 or u - reach > self.width or v - 1.05 * height_px > self.height:
                continue
            on_screen.append((v, u, height_px, state))
        on_screen.sort(key=lambda item: (item[0], item[3].worker_id))
        placed = []
        for order, (v, u, height_px, state) in enumerate(on_screen):
            raster = draw_figure(state.appearance, state.pose, height_px, state.wears_helmet)
            x0, y0 = round(u) - raster.anchor[0], round(v) - raster.anchor[1]
            patch_h, patch_w = raster.labels.shape
            x1, y1 = max(0, x0), max(0, y0)
            x2, y2 = min(self.width, x0 + patch_w), min(self.height, y0 + patch_h)
            if x1 >= x2 or y1 >= y2:
                continue
            _cast_shadow(frame, u, v, height_px)
            labels = raster.labels[y1 - y0 : y2 - y0, x1 - x0 : x2 - x0]
            visible = (labels > 0) & (static.clutter_depth[y1:y2, x1:x2] <= v)
            np.copyto(
                frame[y1:y2, x1:x2],
                raster.image[y1 - y0 : y2 - y0, x1 - x0 : x2 - x0],
                where=visible[..., None],
            )
            owner[y1:y2, x1:x2][visible] = order
            placed.append(_Placed(order, state, raster, (x0, y0), (x1, y1, x2, y2)))
        return placed

    def _truth(self, placed: _Placed, owner: np.ndarray) -> WorkerTruth | None:
        x0, y0 = placed.origin
        x1, y1, x2, y2 = placed.window
        labels = placed.raster.labels[y1 - y0 : y2 - y0, x1 - x0 : x2 - x0]
        bx, by, bw, bh = cv2.boundingRect(labels)
        if bw == 0 or bh == 0:
            return None
        person = (x1 + bx, y1 + by, x1 + bx + bw, y1 + by + bh)
        mine = owner[y1:y2, x1:x2] == placed.order
        all_labels = placed.raster.labels
        wears_helmet = placed.state.wears_helmet
        has_vest = placed.state.appearance.vest is not None
        return WorkerTruth(
            id=placed.state.worker_id,
            person_box=_as_box(person),
            helmet_box=_part_box(placed.raster.helmet_box, placed.origin, person)
            if wears_helmet
            else None,
            vest_box=_part_box(placed.raster.vest_box, placed.origin, person) if has_vest else None,
            has_helmet=wears_helmet,
            has_vest=has_vest,
            visibility=_fraction(int(np.count_nonzero(mine)), int(np.count_nonzero(all_labels))),
            helmet_visibility=_part_visibility(mine, labels, all_labels, Part.HELMET),
            vest_visibility=_part_visibility(mine, labels, all_labels, Part.VEST),
        )


def _part_box(
    local: PixelBox | None, origin: tuple[int, int], person: tuple[int, int, int, int]
) -> Box | None:
    """A part's patch box in frame pixels, cut to the (frame-clipped) person box."""
    if local is None:
        return None
    x1 = max(local[0] + origin[0], person[0])
    y1 = max(local[1] + origin[1], person[1])
    x2 = min(local[2] + origin[0], person[2])
    y2 = min(local[3] + origin[1], person[3])
    if x1 >= x2 or y1 >= y2:
        return None
    return _as_box((x1, y1, x2, y2))


def _part_visibility(
    mine: np.ndarray, labels_in_frame: np.ndarray, all_labels: np.ndarray, part: Part
) -> float:
    total = int(np.count_nonzero(all_labels == part))
    return _fraction(int(np.count_nonzero(mine & (labels_in_frame == part))), total)


def _fraction(part: int, whole: int) -> float:
    return float(part) / float(whole) if whole else 0.0


def _as_box(box: tuple[int, int, int, int]) -> Box:
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def _cast_shadow(frame: np.ndarray, u: float, v: float, height_px: float) -> None:
    """Darken an ellipse of ground under the feet."""
    axes = (max(1, round(0.17 * height_px)), max(1, round(0.035 * height_px)))
    x1, x2 = max(0, round(u) - axes[0] - 1), min(frame.shape[1], round(u) + axes[0] + 2)
    y1, y2 = max(0, round(v) - axes[1] - 1), min(frame.shape[0], round(v) + axes[1] + 2)
    if x1 >= x2 or y1 >= y2:
        return
    region = frame[y1:y2, x1:x2]
    dark = region.copy()
    cv2.ellipse(dark, (round(u) - x1, round(v) - y1), axes, 0, 0, 360, (0, 0, 0), -1)
    region[:] = cv2.addWeighted(region, 0.6, dark, 0.4, 0.0)
