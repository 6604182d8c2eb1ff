"""What a camera leaves behind: the annotated recording and `detections` lines (JSONL)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)


def next_free_path(directory: Path, stem: str, suffix: str) -> Path:
    """`stem.suffix`, or `stem.1.suffix`, `stem.2.suffix`... so a restarted camera never
    overwrites the recording of its previous life."""
    candidate = directory / f"{stem}{suffix}"
    number = 1
    while candidate.exists():
        candidate = directory / f"{stem}.{number}{suffix}"
        number += 1
    return candidate


class Recorder:
    """Annotated frames to a video file; opened on the first frame, at that frame's size.

    Frames of another size (the stream changed resolution) are resized to the first size.
    """

    def __init__(self, path: Path, fps: float, fourcc: str = "mp4v") -> None:
        self.path = path
        self._fps = fps
        self._fourcc = fourcc
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            self._size = (frame.shape[1], frame.shape[0])
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(
                str(self.path), cv2.VideoWriter.fourcc(*self._fourcc), self._fps, self._size
            )
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot write {self._fourcc} video here")
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size)
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        """Finalize the file (writes the index; a file never closed is not playable)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class DetectionsLog:
    """Appends one JSON line per sampled frame to a file that all cameras share.

    Each line goes out in a single `write()` on an O_APPEND descriptor, which Linux keeps
    whole against concurrent appends from other processes.
    """

    def __init__(self, path: Path, camera_id: str, class_names: Sequence[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._camera_id = camera_id
        self._class_names = list(class_names)

    def write(
        self,
        seq: int,
        frame_index: int,
        pts: float,
        latency_ms: float,
        detections: np.ndarray,
    ) -> None:
        """`detections` (K, 6) in original-frame pixels."""
        line = {
            "type": "detections",
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "camera": self._camera_id,
            "seq": seq,
            "frame_index": frame_index,
            "pts": round(pts, 3),
            "latency_ms": round(latency_ms, 1),
            "detections": [
                {
                    "class": self._class_names[int(cls)]
                    if int(cls) < len(self._class_names)
                    else str(int(cls)),
                    "score": round(float(score), 3),
                    "box": [round(float(v), 1) for v in (x1, y1, x2, y2)],
                }
                for x1, y1, x2, y2, score, cls in detections
            ],
        }
        os.write(self._fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)
