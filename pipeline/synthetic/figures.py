"""Humanoid worker figures drawn with OpenCV primitives, with a label image of their parts.

A figure is drawn into its own small patch, in body units: `u` to the right and `v` downwards,
both as fractions of the person's height in pixels, with the feet's centre at (0, 0) and the
top of the head at v = -1. The label image marks each drawn pixel as body, helmet or vest, so
the scene can composite the figure and measure what of it stays visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, IntEnum

import cv2
import numpy as np

from pipeline.synthetic.palette import REFLECTIVE_STRIPE, Colour, shade

PixelBox = tuple[int, int, int, int]  # x1, y1, x2, y2 in patch pixels, x2/y2 exclusive


class Part(IntEnum):
    """Values of the label image."""

    EMPTY = 0
    BODY = 1
    HELMET = 2
    VEST = 3


class HeadCover(Enum):
    HAIR = "hair"
    BALD = "bald"
    BEANIE = "beanie"


@dataclass(frozen=True)
class Appearance:
    """How one worker looks, fixed for as long as the worker is in the scene."""

    height_m: float
    build: float  # body width factor, about 0.9 (slim) to 1.15 (broad)
    skin: Colour
    hair: Colour
    head_cover: HeadCover
    beanie: Colour
    shirt: Colour
    trousers: Colour
    boots: Colour
    helmet: Colour
    vest: Colour | None  # None: wears no vest


@dataclass(frozen=True)
class Pose:
    """Body posture at one instant.

    `gait_phase` in radians advances one full turn per stride (two steps); `stride` is 0 when
    standing and 1 when walking; `lateral` is 0 when walking towards or away from the camera
    and 1 when walking across it; `facing` is +1 when moving right in the image, -1 left;
    `arm_work` raises the near arm (0 to 1) for a worker busy at a task.
    """

    gait_phase: float
    stride: float
    lateral: float
    facing: int
    towards_camera: bool
    arm_work: float = 0.0


@dataclass(frozen=True)
class FigureRaster:
    image: np.ndarray  # (h, w, 3) uint8 BGR, zero where the label is EMPTY
    labels: np.ndarray  # (h, w) uint8 Part values
    anchor: tuple[int, int]  # feet centre (x, y) in patch pixels
    helmet_box: PixelBox | None
    vest_box: PixelBox | None


class _Painter:
    """Draws the same shape into the colour patch and the label patch."""

    def __init__(self, height_px: float) -> None:
        self.scale = height_px
        half_width = math.ceil(0.38 * height_px) + 3
        patch_height = math.ceil(1.05 * height_px) + 6
        self.origin = (half_width, patch_height - 3)
        self.image = np.zeros((patch_height, 2 * half_width + 1, 3), dtype=np.uint8)
        self.labels = np.zeros((patch_height, 2 * half_width + 1), dtype=np.uint8)

    def px(self, u: float, v: float) -> tuple[int, int]:
        return (round(self.origin[0] + u * self.scale), round(self.origin[1] + v * self.scale))

    def width(self, fraction: float) -> int:
        return max(1, round(fraction * self.scale))

    def line(
        self,
        a: tuple[float, float],
        b: tuple[float, float],
        thickness: float,
        colour: Colour,
        part: Part = Part.BODY,
    ) -> None:
        pa, pb, width = self.px(*a), self.px(*b), self.width(thickness)
        cv2.line(self.image, pa, pb, colour, width)
        cv2.line(self.labels, pa, pb, int(part), width)

    def polygon(
        self, points: list[tuple[float, float]], colour: Colour, part: Part = Part.BODY
    ) -> np.ndarray:
        pts = np.array([self.px(u, v) for u, v in points], dtype=np.int32)
        cv2.fillPoly(self.image, [pts], colour)
        cv2.fillPoly(self.labels, [pts], int(part))
        return pts

    def ellipse(
        self,
        centre: tuple[float, float],
        axes: tuple[float, float],
        colour: Colour,
        part: Part = Part.BODY,
        arc: tuple[int, int] = (0, 360),
    ) -> np.ndarray:
        """Filled ellipse (or the sector between `arc` degrees; 180-360 is the upper half)."""
        axes_px = (self.width(axes[0]), self.width(axes[1]))
        pts = np.asarray(
            cv2.ellipse2Poly(self.px(*centre), axes_px, 0, arc[0], arc[1], 10), dtype=np.int32
        )
        cv2.fillPoly(self.image, [pts], colour)
        cv2.fillPoly(self.labels, [pts], int(part))
        return pts


def _box(points: np.ndarray) -> PixelBox:
    x, y, w, h = cv2.boundingRect(points.reshape(-1, 2))
    return (x, y, x + w, y + h)


def draw_figure(
    appearance: Appearance, pose: Pose, height_px: float, wears_helmet: bool
) -> FigureRaster:
    """Draw one worker `height_px` tall (feet to top of head) in `pose`."""
    painter = _Painter(height_px)
    profile = pose.lateral >= 0.5
    lateral, facing, build = pose.lateral, pose.facing, appearance.build
    shoulder_half = build * (0.12 * (1 - lateral) + 0.065 * lateral)
    hip_half = build * (0.095 * (1 - lateral) + 0.06 * lateral)

    legs = [_leg(pose, i, build) for i in (0, 1)]
    arms = [_arm(pose, i, shoulder_half) for i in (0, 1)]
    for index, (hip, knee, ankle) in enumerate(legs):
        factor = 0.8 if profile and index == 0 else 1.0
        trousers = shade(appearance.trousers, factor)
        painter.line(hip, knee, 0.075, trousers)
        painter.line(knee, ankle, 0.065, trousers)
        toe = (ankle[0] + 0.05 * facing * lateral, ankle[1] + 0.005)
        painter.line(ankle, toe, 0.045, shade(appearance.boots, factor))
    if profile:
        _draw_arm(painter, arms[0], appearance, 0.8)

    painter.polygon(
        [
            (-shoulder_half * 0.78, -0.835),
            (shoulder_half * 0.78, -0.835),
            (shoulder_half, -0.795),
            (hip_half * 1.02, -0.5),
            (-hip_half * 1.02, -0.5),
            (-shoulder_half, -0.795),
        ],
        appearance.shirt,
    )
    vest_box = None
    if appearance.vest is not None:
        vest_box = _draw_vest(painter, appearance.vest, pose, shoulder_half, hip_half)
    if not profile:
        for arm in arms:
            _draw_arm(painter, arm, appearance, 1.0)

    head = (0.008 * facing * lateral, -0.925)
    painter.line((0.0, -0.865), (0.0, -0.82), 0.04, shade(appearance.skin, 0.9))
    painter.ellipse(head, (0.052, 0.064), appearance.skin)
    helmet_box = None
    if wears_helmet:
        helmet_box = _draw_helmet(painter, appearance.helmet, head, pose)
    else:
        _draw_head_cover(painter, appearance, head, pose)
    if profile:
        _draw_arm(painter, arms[1], appearance, 1.0)
    return FigureRaster(painter.image, painter.labels, painter.origin, helmet_box, vest_box)


Point = tuple[float, float]


def _leg(pose: Pose, index: int, build: float) -> tuple[Point, Point, Point]:
    phase = pose.gait_phase + index * math.pi
    swing = pose.stride * 0.42 * math.sin(phase)
    bend = pose.stride * 0.55 * max(0.0, math.sin(phase + 1.3))
    side = -1 if index == 0 else 1
    lateral, facing = pose.lateral, pose.facing
    hip = (side * 0.05 * build * (1 - lateral) + side * 0.012 * lateral, -0.5)
    knee = (hip[0] + 0.235 * math.sin(swing) * lateral * facing, hip[1] + 0.235 * math.cos(swing))
    shin = swing - bend
    ankle = (knee[0] + 0.235 * math.sin(shin) * lateral * facing, knee[1] + 0.235 * math.cos(shin))
    return hip, knee, ankle


def _arm(pose: Pose, index: int, shoulder_half: float) -> tuple[Point, Point, Point]:
    phase = pose.gait_phase + index * math.pi
    # Arms swing against the leg on their own side; the elbow bends forwards.
    swing = pose.stride * 0.38 * math.sin(phase)
    bend = 0.2 + pose.stride * 0.25 * (1 + math.sin(phase)) / 2
    if index == 1 and pose.arm_work > 0:
        swing = -(0.4 + 0.9 * pose.arm_work)
        bend = 0.3
    side = -1 if index == 0 else 1
    lateral, facing = pose.lateral, pose.facing
    forward = -facing * lateral  # negative swing points the arm forward, in walking direction
    shoulder = (side * shoulder_half * 0.92, -0.8)
    elbow = (
        shoulder[0] + 0.165 * (math.sin(swing) * forward + side * 0.12 * (1 - lateral)),
        shoulder[1] + 0.165 * math.cos(swing),
    )
    hand = (
        elbow[0] + 0.16 * (math.sin(swing - bend) * forward + side * 0.06 * (1 - lateral)),
        elbow[1] + 0.16 * math.cos(swing - bend),
    )
    return shoulder, elbow, hand


def _draw_arm(
    painter: _Painter, arm: tuple[Point, Point, Point], appearance: Appearance, factor: float
) -> None:
    shoulder, elbow, hand = arm
    sleeve = shade(appearance.shirt, factor)
    painter.line(shoulder, elbow, 0.055, sleeve)
    painter.line(elbow, hand, 0.05, sleeve)
    painter.ellipse(hand, (0.022, 0.024), shade(appearance.skin, factor))


def _draw_vest(
    painter: _Painter, colour: Colour, pose: Pose, shoulder_half: float, hip_half: float
) -> PixelBox:
    neck_v = -0.76 if pose.towards_camera and pose.lateral < 0.6 else -0.83
    top, hem = -0.8, -0.545
    outer_top, outer_hem = shoulder_half * 1.08, hip_half * 1.14
    pts = painter.polygon(
        [
            (-outer_top, top),
            (-shoulder_half * 0.45, -0.84),
            (0.0, neck_v),
            (shoulder_half * 0.45, -0.84),
            (outer_top, top),
            (outer_hem, hem),
            (-outer_hem, hem),
        ],
        colour,
        Part.VEST,
    )
    for v in (-0.655, -0.595):
        along = (v - top) / (hem - top)
        half = (outer_top + (outer_hem - outer_top) * along) * 0.97
        painter.line((-half, v), (half, v), 0.024, REFLECTIVE_STRIPE, Part.VEST)
    if pose.lateral < 0.6:
        for side in (-1, 1):
            painter.line(
                (side * shoulder_half * 0.55, -0.83),
                (side * shoulder_half * 0.62, -0.665),
                0.02,
                REFLECTIVE_STRIPE,
                Part.VEST,
            )
    return _box(pts)


def _draw_helmet(painter: _Painter, colour: Colour, head: Point, pose: Pose) -> PixelBox:
    brim_v = head[1] - 0.015
    dome = painter.ellipse((head[0], brim_v), (0.063, 0.062), colour, Part.HELMET, (180, 360))
    brim_centre = (head[0] + 0.014 * pose.facing * pose.lateral, brim_v + 0.002)
    brim = painter.ellipse(
        brim_centre, (0.082 + 0.01 * pose.lateral, 0.013), shade(colour, 0.85), Part.HELMET
    )
    if painter.scale >= 30:
        painter.line(
            (head[0] - 0.012, brim_v - 0.058),
            (head[0] + 0.012, brim_v - 0.058),
            0.012,
            shade(colour, 1.15),
            Part.HELMET,
        )
    return _box(np.concatenate([dome, brim]))


def _draw_head_cover(painter: _Painter, appearance: Appearance, head: Point, pose: Pose) -> None:
    if appearance.head_cover is HeadCover.BEANIE:
        painter.ellipse(
            (head[0], head[1] - 0.008), (0.056, 0.056), appearance.beanie, arc=(180, 360)
        )
    elif appearance.head_cover is HeadCover.HAIR:
        seen_from_behind = not pose.towards_camera and pose.lateral < 0.5
        back = -0.006 * pose.facing * pose.lateral
        if seen_from_behind:
            painter.ellipse((head[0], head[1] - 0.004), (0.05, 0.058), appearance.hair)
        else:
            painter.ellipse(
                (head[0] + back, head[1] - 0.012), (0.054, 0.056), appearance.hair, arc=(180, 360)
            )
