"""A few-frame video file for the checks that open videos (OpenCV's mp4v writer)."""

from pathlib import Path

import cv2
import numpy as np


def tiny_video(path: Path, frames: int = 3, size: tuple[int, int] = (64, 48)) -> Path:
    """Write `frames` frames of `size` (width, height) pixels to `path` (MPEG-4 part 2)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for index in range(frames):
        writer.write(np.full((size[1], size[0], 3), 40 * index % 256, np.uint8))
    writer.release()
    return path
