"""Pinhole camera looking level over flat ground: where a point on the ground appears.

Ground coordinates are metres: X to the right of the camera, Z straight ahead (depth).
Image coordinates are pixels of the rendered frame. Everything scales with the frame height,
so one scene rendered at 640x360 and 1920x1080 shows the same content.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.synthetic.seeding import Stream, stream

PERSON_HEIGHT_M = 1.75
# Nearest and farthest depths at which workers walk, as person heights in frame heights.
NEAREST_PERSON_FRACTION_MAX = 0.62
FARTHEST_PERSON_FRACTION = 0.035


@dataclass(frozen=True)
class GroundCamera:
    width: int
    height: int
    focal_px: float
    horizon_y: float
    camera_height_m: float

    @classmethod
    def random(cls, seed: int, width: int, height: int) -> GroundCamera:
        rng = stream(seed, Stream.CAMERA)
        focal_per_height = float(rng.uniform(1.0, 1.5))
        horizon_fraction = float(rng.uniform(0.2, 0.4))
        camera_height_m = float(rng.uniform(2.6, 4.6))
        return cls(
            width=width,
            height=height,
            focal_px=focal_per_height * height,
            horizon_y=horizon_fraction * height,
            camera_height_m=camera_height_m,
        )

    def project(self, x_m: float, z_m: float) -> tuple[float, float]:
        """Ground point (X, Z) in metres -> image point (u, v) in pixels."""
        return (
            self.width / 2 + self.focal_px * x_m / z_m,
            self.horizon_y + self.focal_px * self.camera_height_m / z_m,
        )

    def pixels_per_metre(self, z_m: float) -> float:
        return self.focal_px / z_m

    def half_view_width_m(self, z_m: float) -> float:
        """Half the width of ground visible at depth Z, in metres."""
        return (self.width / 2) * z_m / self.focal_px

    @property
    def near_depth_m(self) -> float:
        """Depth whose ground row is the bottom of the frame, or nearer if people would be
        taller than NEAREST_PERSON_FRACTION_MAX of the frame there."""
        bottom = self.focal_px * self.camera_height_m / (self.height - self.horizon_y)
        tallest = self.focal_px * PERSON_HEIGHT_M / (NEAREST_PERSON_FRACTION_MAX * self.height)
        return max(bottom * 0.92, tallest)

    @property
    def far_depth_m(self) -> float:
        """Depth at which a person is FARTHEST_PERSON_FRACTION of the frame height."""
        return self.focal_px * PERSON_HEIGHT_M / (FARTHEST_PERSON_FRACTION * self.height)

    def log_uniform_depth(self, rng: np.random.Generator, near: float, far: float) -> float:
        return float(np.exp(rng.uniform(np.log(near), np.log(far))))
