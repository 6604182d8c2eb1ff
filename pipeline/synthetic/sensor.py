"""What the camera adds on top of the scene: lighting that drifts over time, optics blur and
sensor noise. Noise comes from one pre-drawn bank per scene, read at an offset chosen from
(seed, frame index), so it is cheap and every frame stays reproducible."""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.synthetic.seeding import Stream, stream

NOISE_MARGIN = 64  # bank is this much larger than the frame in both axes
NOISE_OFFSET = 16  # bank values are noise + this, so they fit in uint8


class Sensor:
    def __init__(self, seed: int, width: int, height: int) -> None:
        rng = stream(seed, Stream.SENSOR)
        self.seed = seed
        self.width, self.height = width, height
        self.noise_sigma = float(rng.uniform(1.5, 6.0))
        self.blur = bool(rng.random() < 0.5)
        cast = rng.uniform(-0.06, 0.06, size=3)
        self.base_gain = (1.0 + cast) * float(rng.uniform(0.85, 1.1))
        self.swing = float(rng.uniform(0.05, 0.22))
        self.period_s = float(rng.uniform(40.0, 150.0))
        self.cloud = float(rng.uniform(0.0, 0.06))
        self.cloud_period_s = float(rng.uniform(6.0, 15.0))
        self.phase = float(rng.uniform(0.0, 2 * math.pi))
        self._noise: np.ndarray | None = None

    def gain(self, t: float) -> np.ndarray:
        """Per-channel (B, G, R) brightness factor at time `t` seconds."""
        slow = self.swing * math.sin(2 * math.pi * t / self.period_s + self.phase)
        cloud = self.cloud * math.sin(2 * math.pi * t / self.cloud_period_s + 2 * self.phase)
        return self.base_gain * (1.0 + slow + cloud)

    def apply(self, frame: np.ndarray, index: int, t: float) -> None:
        """Light, blur and noise `frame` (H, W, 3 uint8) in place."""
        if self.blur:
            cv2.GaussianBlur(frame, (3, 3), 0, dst=frame)
        gain = self.gain(t)
        matrix = np.zeros((3, 4), dtype=np.float32)
        matrix[[0, 1, 2], [0, 1, 2]] = gain
        matrix[:, 3] = -NOISE_OFFSET
        lit = cv2.transform(frame, matrix)
        rng = stream(self.seed, Stream.FRAME, index)
        dx, dy = (int(v) for v in rng.integers(0, NOISE_MARGIN, size=2))
        noise = self._noise_bank()[dy : dy + self.height, dx : dx + self.width]
        cv2.add(lit, noise, dst=frame)

    def _noise_bank(self) -> np.ndarray:
        if self._noise is None:
            rng = stream(self.seed, Stream.SENSOR, 1)
            shape = (self.height + NOISE_MARGIN, self.width + NOISE_MARGIN, 3)
            noise = rng.standard_normal(size=shape, dtype=np.float32) * self.noise_sigma
            self._noise = np.clip(noise + NOISE_OFFSET, 0, 2 * NOISE_OFFSET).astype(np.uint8)
        return self._noise
