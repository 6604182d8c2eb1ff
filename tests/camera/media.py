"""Small H.264 test clips encoded with PyAV (libx264 ships in its wheel), and damaged copies.

No system tool is needed: only the RTSP server itself comes from Debian's packages.
"""

from __future__ import annotations

import random
from pathlib import Path

import av
import cv2
import numpy as np

PATTERNS = ("ball", "bars")


def pattern_frame(pattern: str, index: int, width: int, height: int) -> np.ndarray:
    """Frame `index` of a moving test pattern, (height, width, 3) uint8 RGB.

    `ball`: a white disc crossing a black field; `bars`: eight colour bars scrolling
    sideways. Both move every frame, so the encoder writes real P-frames.
    """
    if pattern == "ball":
        frame = np.full((height, width, 3), 16, dtype=np.uint8)
        radius = max(4, min(width, height) // 10)
        cx = radius + (index * 7) % max(1, width - 2 * radius)
        cy = radius + (index * 5) % max(1, height - 2 * radius)
        cv2.circle(frame, (cx, cy), radius, (235, 235, 235), -1)
        return frame
    if pattern == "bars":
        # White, yellow, cyan, green, magenta, red, blue, black (RGB).
        levels = [(235, 235, 235), (235, 235, 16), (16, 235, 235), (16, 235, 16)]
        levels += [(235, 16, 235), (235, 16, 16), (16, 16, 235), (16, 16, 16)]
        colours = np.array(levels, dtype=np.uint8)
        columns = ((np.arange(width) + index * 4) * len(colours) // width) % len(colours)
        return np.broadcast_to(colours[columns], (height, width, 3)).copy()
    raise ValueError(f"unknown pattern {pattern!r}; one of {', '.join(PATTERNS)}")


def encode_pattern(
    path: Path,
    width: int,
    height: int,
    frames: int,
    fps: int = 10,
    pattern: str = "ball",
    keyframe_interval: int = 10,
) -> Path:
    """A test-pattern clip in H.264 (baseline, no B-frames): `.mp4` muxed, `.h264` raw
    Annex B (no container)."""
    raw = path.suffix == ".h264"
    with av.open(str(path), "w", format="h264" if raw else "mp4") as container:
        stream = container.add_stream(
            "libx264",
            rate=fps,
            options={
                "preset": "ultrafast",
                "tune": "zerolatency",
                "profile": "baseline",
                "g": str(keyframe_interval),
                "bf": "0",
            },
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(
                pattern_frame(pattern, index, width, height), format="rgb24"
            )
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def overwrite_chunks(source: Path, target: Path, chunks: int, size: int, seed: int) -> Path:
    """A copy of `source` with `chunks` runs of `size` random bytes written over its middle
    part (between 25% and 75% of the file), like a damaged recording."""
    data = bytearray(source.read_bytes())
    rng = random.Random(seed)
    for number in range(chunks):
        start = len(data) // 4 + (number * len(data) // 2) // chunks
        data[start : start + size] = rng.randbytes(size)
    target.write_bytes(bytes(data))
    return target


def garbage(target: Path, size: int, seed: int) -> Path:
    target.write_bytes(random.Random(seed).randbytes(size))
    return target
