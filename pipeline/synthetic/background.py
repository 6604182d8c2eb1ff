"""The static part of a scene: sky, distant buildings, textured ground and clutter.

Built once per scene (seed and frame size) and copied into every frame, which is what makes
rendering fast. The clutter depth map comes with it (see `clutter`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.synthetic import clutter, palette
from pipeline.synthetic.camera import GroundCamera
from pipeline.synthetic.clutter import Canvas, Distractor
from pipeline.synthetic.palette import Colour, shade
from pipeline.synthetic.seeding import Stream, stream

GROUND_COLOURS: tuple[Colour, ...] = (
    (75, 105, 135),  # dirt
    (150, 150, 148),  # concrete
    (85, 85, 88),  # asphalt
    (115, 125, 130),  # gravel
    (95, 130, 150),  # sand
)


@dataclass(frozen=True)
class Prop:
    """An object placed on purpose (compliance scenes), drawn among the random clutter:
    `kind` one of "cabin", "tarp", "helmet_on_crate", "crate", "cone"; its front face
    centred at ground point (x_m, z_m); `look` seeds its colours and sizes."""

    kind: str
    x_m: float
    z_m: float
    look: int


@dataclass(frozen=True)
class StaticLayer:
    image: np.ndarray  # (H, W, 3) uint8 BGR
    clutter_depth: np.ndarray  # (H, W) float32, see clutter.Canvas
    distractors: tuple[Distractor, ...]  # PPE look-alikes in the background, never in truth


def build_static_layer(seed: int, camera: GroundCamera, props: Sequence[Prop] = ()) -> StaticLayer:
    """The scene's static layer; `props` are drawn among the seed's own clutter, far to
    near (without props, the layer is what the seed alone gives)."""
    width, height = camera.width, camera.height
    rng = stream(seed, Stream.BACKGROUND)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    horizon = round(camera.horizon_y)
    _draw_sky(image[:horizon], rng)
    _draw_ground(image, camera, rng)
    canvas = Canvas(image, np.zeros((height, width), dtype=np.float32), camera)
    _draw_skyline(canvas, rng)
    _draw_markings(canvas, rng)
    _place_clutter(canvas, stream(seed, Stream.CLUTTER), props)
    _vignette(image, float(rng.uniform(0.0, 0.35)))
    return StaticLayer(image, canvas.depth, tuple(canvas.distractors))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Noise in -1..1 varying over about `cells` cells across the larger side."""
    height, width = shape
    small = rng.uniform(
        -1.0, 1.0, size=(max(2, cells * height // max(shape)), max(2, cells * width // max(shape)))
    )
    return cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)


def _draw_sky(sky: np.ndarray, rng: np.random.Generator) -> None:
    rows = sky.shape[0]
    if rows == 0:
        return
    overcast = rng.random() < 0.4
    top = np.array((200, 190, 185) if overcast else (210, 160, 110), dtype=np.float32)
    low = np.array((225, 222, 220) if overcast else (235, 215, 195), dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None, None]
    sky[:] = (top * (1 - ramp) + low * ramp).astype(np.uint8)


def _draw_ground(image: np.ndarray, camera: GroundCamera, rng: np.random.Generator) -> None:
    height, width = image.shape[:2]
    horizon = round(camera.horizon_y)
    rows = height - horizon
    if rows <= 0:
        return
    base = np.array(palette.jitter(palette.pick(rng, GROUND_COLOURS), rng, 15), dtype=np.float32)
    haze = np.linspace(1.25, 0.9, rows, dtype=np.float32)[:, None, None]
    coarse = _smooth_noise(rng, (rows, width), 12)[..., None] * 14.0
    fine = rng.standard_normal(size=(rows, width, 1), dtype=np.float32) * 9.0
    ground = base * haze + coarse + fine
    image[horizon:] = np.clip(ground, 0, 255).astype(np.uint8)
    # Darker patches (puddles, oil, shadows of things outside the view).
    for _ in range(int(rng.integers(2, 7))):
        z = camera.log_uniform_depth(rng, camera.near_depth_m, camera.far_depth_m)
        u, v = camera.project(float(rng.uniform(-1, 1)) * camera.half_view_width_m(z), z)
        axes = (
            max(1, round(camera.pixels_per_metre(z) * rng.uniform(0.8, 3.0))),
            max(1, round(camera.pixels_per_metre(z) * rng.uniform(0.1, 0.4))),
        )
        patch = shade(tuple(int(c) for c in base), 0.75)  # type: ignore[arg-type]
        cv2.ellipse(image, (round(u), round(v)), axes, 0, 0, 360, patch, -1)


def _draw_skyline(canvas: Canvas, rng: np.random.Generator) -> None:
    """Buildings and container stacks standing on the horizon, far beyond the workers."""
    width, height = canvas.camera.width, canvas.camera.height
    horizon = round(canvas.camera.horizon_y)
    x = int(rng.integers(-width // 10, width // 10))
    while x < width:
        block = int(rng.uniform(0.08, 0.3) * width)
        top = horizon - int(rng.uniform(0.02, 0.16) * height)
        if rng.random() < 0.35:
            x += block // 2
            continue
        colour = palette.pick(
            rng, ((160, 160, 155), (140, 150, 170), (60, 60, 150), (140, 100, 60), (70, 120, 70))
        )
        cv2.rectangle(canvas.image, (x, top), (x + block, horizon), colour, -1)
        if rng.random() < 0.5:  # container ribs
            step = max(2, block // 12)
            for rib in range(x, x + block, step):
                cv2.line(canvas.image, (rib, top), (rib, horizon), shade(colour, 0.8), 1)
        else:  # windows
            rows = max(1, (horizon - top) // max(4, height // 40))
            for r in range(rows):
                y = top + 2 + r * max(4, height // 40)
                cv2.line(canvas.image, (x + 2, y), (x + block - 2, y), shade(colour, 0.6), 1)
        x += block
    fence_rows = horizon - max(1, height // 90)
    cv2.line(canvas.image, (0, fence_rows), (width, fence_rows), (110, 110, 110), 1)


def _draw_markings(canvas: Canvas, rng: np.random.Generator) -> None:
    """Painted walkway lines on the ground, converging in perspective."""
    if rng.random() < 0.4:
        return
    camera = canvas.camera
    colour = (30, 200, 230) if rng.random() < 0.6 else (225, 225, 225)
    near, far = camera.near_depth_m * 0.9, camera.far_depth_m
    offset = float(rng.uniform(-3.0, 3.0))
    for lane_x in (offset - 1.5, offset + 1.5):
        a = canvas.point(lane_x, 0, near)
        b = canvas.point(lane_x, 0, far)
        cv2.line(canvas.image, a, b, colour, max(1, canvas.width_px(0.12, near)))


def _place_clutter(canvas: Canvas, rng: np.random.Generator, props: Sequence[Prop]) -> None:
    camera = canvas.camera
    near, far = camera.near_depth_m, camera.far_depth_m
    kinds: list[str] = ["cone"] * int(rng.integers(1, 5))
    if rng.random() < 0.75:
        kinds.append("tarp")
    if rng.random() < 0.75:
        kinds.append("helmet_on_crate")
    if rng.random() < 0.7:
        kinds.append("machine")
    extra = ("crate", "crate", "barrel", "barrel", "barrier", "tarp", "machine", "cone")
    kinds += [extra[int(rng.integers(len(extra)))] for _ in range(int(rng.integers(3, 9)))]

    placed: list[tuple[float, float, str, np.random.Generator]] = []
    for kind in kinds:
        nearest = near * (2.0 if kind == "machine" else 1.15)
        z = camera.log_uniform_depth(rng, nearest, far * 0.8)
        x = float(rng.uniform(-1.05, 1.05)) * camera.half_view_width_m(z)
        placed.append((z, x, kind, np.random.default_rng(rng.integers(2**32))))
    for prop in props:  # after the seed's own draws, so those stay as they were
        placed.append((prop.z_m, prop.x_m, prop.kind, np.random.default_rng(prop.look)))
    draw: dict[str, Callable[[Canvas, np.random.Generator, float, float], object]] = {
        "cone": lambda c, _r, x, z: clutter.draw_cone(c, x, z),
        "barrier": lambda c, _r, x, z: clutter.draw_barrier(c, x, z),
        "crate": clutter.draw_crate,
        "barrel": clutter.draw_barrel,
        "machine": clutter.draw_machine,
        "tarp": clutter.draw_tarp,
        "helmet_on_crate": clutter.draw_helmet_on_crate,
        "cabin": clutter.draw_cabin,
    }
    for z, x, kind, object_rng in sorted(placed, key=lambda item: -item[0]):  # far to near
        draw[kind](canvas, object_rng, x, z)


def _vignette(image: np.ndarray, strength: float) -> None:
    height, width = image.shape[:2]
    ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    falloff = 1.0 - strength * 0.5 * (xs**2 + ys**2)
    image[:] = np.clip(image * falloff[..., None], 0, 255).astype(np.uint8)
