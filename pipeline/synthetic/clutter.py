"""Objects standing on the worksite ground: crates, cones, barrels, machinery, tarps, barriers,
and a hard hat lying on a crate. None of them is a worker: none appears in the ground truth.

Each object is drawn into the static background and its silhouette into the *clutter depth*
map: the image row of the object's ground contact. A worker whose feet are on a row above
that value stands behind the object and is hidden by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.synthetic import palette
from pipeline.synthetic.camera import GroundCamera
from pipeline.synthetic.palette import Colour, shade


@dataclass(frozen=True)
class Distractor:
    """Something that looks like protective equipment but is worn by nobody: `kind` is
    "hard hat", "tarp" or "cone"; `box` bounds it in frame pixels (x1, y1, x2, y2)."""

    kind: str
    box: tuple[float, float, float, float]


@dataclass
class Canvas:
    """The background being built, its clutter depth map, and the camera that sees it."""

    image: np.ndarray
    depth: np.ndarray  # (H, W) float32 ground row of the nearest object per pixel, 0 for none
    camera: GroundCamera
    distractors: list[Distractor] = field(default_factory=list)

    def record(self, kind: str, points: np.ndarray) -> None:
        x, y, w, h = cv2.boundingRect(points.reshape(-1, 2).astype(np.int32))
        height, width = self.image.shape[:2]
        box = (max(0, x), max(0, y), min(width, x + w), min(height, y + h))
        if box[0] < box[2] and box[1] < box[3]:
            self.distractors.append(Distractor(kind, tuple(float(v) for v in box)))  # type: ignore[arg-type]

    def point(self, x: float, y: float, z: float) -> tuple[int, int]:
        """3-D point (metres: right, up from the ground, ahead) -> pixel."""
        cam = self.camera
        return (
            round(cam.width / 2 + cam.focal_px * x / z),
            round(cam.horizon_y + cam.focal_px * (cam.camera_height_m - y) / z),
        )

    def fill(self, points: list[tuple[int, int]], colour: Colour) -> np.ndarray:
        pts = np.array(points, dtype=np.int32)
        cv2.fillPoly(self.image, [pts], colour)
        return pts

    def occlude(self, silhouette: np.ndarray, x: float, z: float) -> None:
        ground_row = float(self.point(x, 0.0, z)[1])
        cv2.fillPoly(self.depth, [cv2.convexHull(silhouette.reshape(-1, 2))], ground_row)

    def width_px(self, metres: float, z: float) -> int:
        return max(1, round(self.camera.focal_px * metres / z))


def draw_box(
    canvas: Canvas, x: float, z: float, size: tuple[float, float, float], colour: Colour
) -> np.ndarray:
    """A box `size` = (width, depth, height) metres whose front face is centred at (x, z).

    Draws the faces the camera sees (front, top, the side towards the image centre) and
    returns all corner pixels, for silhouettes and for placing things on top.
    """
    width, depth, height = size
    left, right, back = x - width / 2, x + width / 2, z + depth
    p = canvas.point
    front = [p(left, 0, z), p(right, 0, z), p(right, height, z), p(left, height, z)]
    top = [p(left, height, z), p(right, height, z), p(right, height, back), p(left, height, back)]
    side_x = left if x > 0 else right
    side = [p(side_x, 0, z), p(side_x, 0, back), p(side_x, height, back), p(side_x, height, z)]
    canvas.fill(side, shade(colour, 0.72))
    canvas.fill(top, shade(colour, 1.18))
    canvas.fill(front, colour)
    corners = np.array(front + top + side, dtype=np.int32)
    canvas.occlude(corners, x, z)
    return corners


def draw_crate(canvas: Canvas, rng: np.random.Generator, x: float, z: float) -> np.ndarray:
    wood = palette.jitter((60, 120, 170), rng, 20)
    size = (
        float(rng.uniform(0.9, 1.5)),
        float(rng.uniform(0.8, 1.2)),
        float(rng.uniform(0.6, 1.1)),
    )
    corners = draw_box(canvas, x, z, size, wood)
    planks = 4
    for i in range(1, planks):
        y = size[2] * i / planks
        a = canvas.point(x - size[0] / 2, y, z)
        b = canvas.point(x + size[0] / 2, y, z)
        cv2.line(canvas.image, a, b, shade(wood, 0.7), 1)
    return corners


def draw_helmet_on_crate(canvas: Canvas, rng: np.random.Generator, x: float, z: float) -> None:
    """A hard hat resting on a crate: looks like a helmet, is not worn, is not in the truth."""
    corners = draw_crate(canvas, rng, x, z)
    top_row = int(corners[:, 1].min())
    name = list(palette.HELMET_COLOURS)[int(rng.integers(len(palette.HELMET_COLOURS)))]
    colour = palette.HELMET_COLOURS[name]
    radius = canvas.width_px(0.16, z)
    centre = (canvas.point(x + float(rng.uniform(-0.2, 0.2)), 0, z)[0], top_row + radius // 3)
    dome = np.asarray(
        cv2.ellipse2Poly(centre, (radius, max(1, int(radius * 0.95))), 0, 180, 360, 10),
        dtype=np.int32,
    )
    brim = np.asarray(
        cv2.ellipse2Poly(centre, (max(1, int(radius * 1.3)), max(1, radius // 5)), 0, 0, 360, 10),
        dtype=np.int32,
    )
    cv2.fillPoly(canvas.image, [brim], shade(colour, 0.85))
    cv2.fillPoly(canvas.image, [dome], colour)
    canvas.occlude(np.concatenate([dome, brim, corners]), x, z)
    canvas.record("hard hat", np.concatenate([dome, brim]))


def draw_cone(canvas: Canvas, x: float, z: float) -> None:
    p = canvas.point
    base = [p(x - 0.2, 0, z), p(x + 0.2, 0, z), p(x + 0.2, 0.04, z), p(x - 0.2, 0.04, z)]
    body = [
        p(x - 0.15, 0.04, z),
        p(x + 0.15, 0.04, z),
        p(x + 0.025, 0.72, z),
        p(x - 0.025, 0.72, z),
    ]
    band = [p(x - 0.1, 0.3, z), p(x + 0.1, 0.3, z), p(x + 0.075, 0.45, z), p(x - 0.075, 0.45, z)]
    canvas.fill(base, (30, 30, 30))
    canvas.fill(body, (20, 100, 250))
    canvas.fill(band, (235, 235, 235))
    canvas.occlude(np.array(base + body, dtype=np.int32), x, z)
    canvas.record("cone", np.array(base + body, dtype=np.int32))


def draw_barrel(canvas: Canvas, rng: np.random.Generator, x: float, z: float) -> None:
    colour = palette.pick(rng, ((150, 80, 20), (30, 40, 170), (90, 90, 90), (40, 110, 40)))
    p = canvas.point
    body = [p(x - 0.3, 0, z), p(x + 0.3, 0, z), p(x + 0.3, 0.9, z), p(x - 0.3, 0.9, z)]
    canvas.fill(body, colour)
    top_centre = p(x, 0.9, z + 0.3)
    axes = (canvas.width_px(0.3, z), max(1, canvas.width_px(0.08, z)))
    cv2.ellipse(canvas.image, top_centre, axes, 0, 0, 360, shade(colour, 1.25), -1)
    for y in (0.3, 0.6):
        cv2.line(canvas.image, p(x - 0.3, y, z), p(x + 0.3, y, z), shade(colour, 0.7), 1)
    canvas.occlude(np.array(body, dtype=np.int32), x, z)


def draw_machine(canvas: Canvas, rng: np.random.Generator, x: float, z: float) -> None:
    """A generator, compact loader or site cabin: a large box with a window and wheels."""
    colour = palette.pick(rng, ((20, 175, 230), (120, 120, 120), (40, 90, 160), (200, 200, 195)))
    size = (
        float(rng.uniform(2.2, 4.0)),
        float(rng.uniform(1.8, 3.0)),
        float(rng.uniform(1.6, 2.8)),
    )
    corners = draw_box(canvas, x, z, size, palette.jitter(colour, rng, 12))
    width, _, height = size
    p = canvas.point
    window = [
        p(x - width * 0.35, height * 0.55, z),
        p(x + width * 0.05, height * 0.55, z),
        p(x + width * 0.05, height * 0.9, z),
        p(x - width * 0.35, height * 0.9, z),
    ]
    canvas.fill(window, (70, 55, 45))
    for wheel_x in (x - width * 0.3, x + width * 0.3):
        centre = p(wheel_x, 0.32, z)
        radius = canvas.width_px(0.32, z)
        cv2.circle(canvas.image, centre, radius, (25, 25, 25), -1)
        cv2.circle(canvas.image, centre, max(1, radius // 2), (80, 80, 80), -1)
    canvas.occlude(corners, x, z)


CABIN_SIZE = (2.4, 1.6, 2.4)  # width, depth, height in metres: taller than any worker


def draw_cabin(canvas: Canvas, rng: np.random.Generator, x: float, z: float) -> None:
    """A site cabin of fixed size (CABIN_SIZE), front face centred at (x, z): workers walking
    behind it are hidden for a known stretch of their path."""
    colour = palette.pick(rng, ((200, 200, 195), (40, 90, 160), (60, 130, 60)))
    width, _, height = CABIN_SIZE
    corners = draw_box(canvas, x, z, CABIN_SIZE, palette.jitter(colour, rng, 10))
    p = canvas.point
    door = [
        p(x + width * 0.1, 0.0, z),
        p(x + width * 0.35, 0.0, z),
        p(x + width * 0.35, height * 0.8, z),
        p(x + width * 0.1, height * 0.8, z),
    ]
    window = [
        p(x - width * 0.4, height * 0.45, z),
        p(x - width * 0.05, height * 0.45, z),
        p(x - width * 0.05, height * 0.8, z),
        p(x - width * 0.4, height * 0.8, z),
    ]
    canvas.fill(door, shade(colour, 0.6))
    canvas.fill(window, (70, 55, 45))
    canvas.occlude(corners, x, z)


def draw_tarp(canvas: Canvas, rng: np.random.Generator, x: float, z: float) -> None:
    """A fluorescent tarp in vest colours, spread on the ground or draped over a pile."""
    name = "orange" if rng.random() < 0.5 else "yellow-green"
    colour = palette.jitter(palette.VEST_COLOURS[name], rng, 15)
    width = float(rng.uniform(1.2, 2.5))
    p = canvas.point
    if rng.random() < 0.4:
        depth = float(rng.uniform(1.0, 2.0))
        flat = [
            p(x - width / 2, 0, z),
            p(x + width / 2, 0, z),
            p(x + width * 0.45, 0, z + depth),
            p(x - width * 0.55, 0, z + depth),
        ]
        canvas.record("tarp", canvas.fill(flat, colour))
        return
    height = float(rng.uniform(0.5, 1.2))
    steps = 9
    outline = [p(x - width / 2, 0, z)]
    for i in range(1, steps):
        fraction = i / steps
        bump = np.sin(np.pi * fraction) ** 0.7 * (1 + 0.15 * np.sin(7 * fraction + x))
        outline.append(p(x - width / 2 + width * fraction, height * float(bump), z))
    outline.append(p(x + width / 2, 0, z))
    pts = canvas.fill(outline, colour)
    for i in range(2, steps - 1, 2):
        top = outline[i]
        cv2.line(
            canvas.image, top, (top[0] + (i - steps // 2), outline[0][1]), shade(colour, 0.75), 1
        )
    canvas.occlude(pts, x, z)
    canvas.record("tarp", pts)


def draw_barrier(canvas: Canvas, x: float, z: float) -> None:
    """A red-and-white striped bar on two posts."""
    p = canvas.point
    half = 1.0
    for post_x in (x - half, x + half):
        cv2.line(
            canvas.image,
            p(post_x, 0, z),
            p(post_x, 1.05, z),
            (60, 60, 60),
            canvas.width_px(0.06, z),
        )
    stripes = 6
    for i in range(stripes):
        a, b = x - half + 2 * half * i / stripes, x - half + 2 * half * (i + 1) / stripes
        colour = (40, 40, 200) if i % 2 == 0 else (235, 235, 235)
        canvas.fill([p(a, 0.85, z), p(b, 0.85, z), p(b, 1.0, z), p(a, 1.0, z)], colour)
    bar = [p(x - half, 0.85, z), p(x + half, 0.85, z), p(x + half, 1.0, z), p(x - half, 1.0, z)]
    canvas.occlude(np.array(bar, dtype=np.int32), x, z)
    post_half = 0.03
    for post_x in (x - half, x + half):
        post = [
            p(post_x - post_half, 0, z),
            p(post_x + post_half, 0, z),
            p(post_x + post_half, 1.05, z),
            p(post_x - post_half, 1.05, z),
        ]
        canvas.occlude(np.array(post, dtype=np.int32), x, z)
