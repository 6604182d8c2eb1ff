"""Frame sources: video files and the synthetic worksite. Each yields BGR frames with a
source timestamp; pacing (real time or as fast as possible) is the camera loop's job."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from pipeline.config.models import FileSource, SyntheticSource

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CapturedFrame:
    image: np.ndarray  # H x W x 3 uint8 BGR, original resolution
    index: int  # frame number in the source (counts on across file loops)
    pts: float  # source timestamp, seconds
    captured_at: float  # time.monotonic() when decoded


class SourceError(RuntimeError):
    """The source cannot be opened or read; the message says which and why."""


class FrameSource(Protocol):
    fps: float  # nominal frame rate, for pacing and the recording
    realtime: bool  # True: frames arrive at `fps` (a live camera); False: read as fast as taken

    def read(self) -> CapturedFrame | None:
        """The next frame, or None when the source has ended."""
        ...

    def close(self) -> None: ...


class VideoFileSource:
    """A video file decoded by OpenCV's FFmpeg backend, optionally looping."""

    def __init__(self, config: FileSource) -> None:
        self._path = config.path
        self._loop = config.loop
        self.realtime = config.realtime
        self._capture = self._open()
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else 25.0
        self._index = 0
        self._pts_offset = 0.0  # added per loop so timestamps keep increasing

    def _open(self) -> cv2.VideoCapture:
        if not self._path.is_file():
            raise SourceError(f"{self._path}: video file not found")
        capture = cv2.VideoCapture(str(self._path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            raise SourceError(f"{self._path}: OpenCV cannot open it as a video")
        return capture

    def read(self) -> CapturedFrame | None:
        ok, image = self._capture.read()
        if not ok:
            if not self._loop or self._index == 0:
                return None
            self._pts_offset = self._index / self.fps
            self._capture.release()
            self._capture = self._open()
            ok, image = self._capture.read()
            if not ok:
                return None
        # Timestamps from the frame count: container pts are unreliable in mp4v files.
        pts = self._index / self.fps
        frame = CapturedFrame(image, self._index, pts, time.monotonic())
        self._index += 1
        return frame

    def close(self) -> None:
        self._capture.release()


class SyntheticWorksiteSource:
    """The project's rendered worksite, a live source with known ground truth."""

    realtime = True

    def __init__(self, config: SyntheticSource) -> None:
        from pipeline.synthetic import WorksiteScene

        self._scene = WorksiteScene(
            seed=config.seed, width=config.width, height=config.height, fps=config.fps
        )
        self.fps = config.fps
        self._index = config.start_index

    def read(self) -> CapturedFrame:
        image, _ = self._scene.render(self._index)
        frame = CapturedFrame(image, self._index, self._index / self.fps, time.monotonic())
        self._index += 1
        return frame

    def close(self) -> None:
        pass


def open_source(config: FileSource | SyntheticSource) -> FrameSource:
    if isinstance(config, FileSource):
        return VideoFileSource(config)
    return SyntheticWorksiteSource(config)
