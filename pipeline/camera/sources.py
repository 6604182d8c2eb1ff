"""Frame sources: video files, the synthetic worksite, network streams (RTSP, RTSPS, HTTP(S)),
USB/V4L2 devices and GStreamer pipelines. Each yields BGR frames with a source timestamp.

A source object is one *session*: opening it connects, `read()` returns the next frame or
None, `close()` releases it. Reconnecting, stall detection and pacing are the capture thread's
job (pipeline/camera/capture.py); a source only reports what it sees. Nothing here assumes a
fixed frame size: every frame carries its own.

Errors: `SourceError` means the configuration can never work (file missing or undecodable,
no GStreamer in this OpenCV); `StreamUnavailable` means "not now, try again later";
`AuthenticationFailed` is the unavailable stream whose server rejected the credentials.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from pipeline.camera.http_probe import http_error_status
from pipeline.camera.native_log import NativeMessages, capture_native_messages
from pipeline.camera.timeline import GapCounter
from pipeline.camera.urls import MissingVariable, expand_url, mask_secrets, mask_url
from pipeline.config.sources import (
    FileSource,
    GStreamerSource,
    RtspSource,
    SourceConfig,
    SyntheticSource,
    UsbSource,
)

logger = logging.getLogger(__name__)

# A failed read() in the middle of a file is a frame the decoder rejected; this many failures
# in a row is the end of the file (each failure at the end returns at once).
FILE_READ_ATTEMPTS = 64
DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class CapturedFrame:
    image: np.ndarray  # H x W x 3 uint8 BGR, original resolution
    index: int  # frame number in the source (counts on across file loops and reconnects)
    pts: float  # source timestamp, seconds
    captured_at: float  # time.monotonic() when decoded


class SourceError(RuntimeError):
    """The source can never work as configured; the message says which and why."""


class StreamUnavailable(SourceError):
    """The source cannot be opened or read now (network, camera, device); worth retrying."""


class AuthenticationFailed(StreamUnavailable):
    """The server rejected the credentials (RTSP/HTTP 401 or 403)."""


class FrameSource(Protocol):
    fps: float  # nominal frame rate, for pacing and the recording
    realtime: bool  # True: frames arrive at `fps` (a live camera); False: read as fast as taken
    live: bool  # True: a None from read() means "no frame now" (lost, stalled), not the end
    decode_errors: int  # frames the decoder rejected (skipped) so far in this session
    skipped_frames: int  # frames missing between timestamps (estimated from gaps)

    def read(self) -> CapturedFrame | None:
        """The next frame; None when a file has ended or a live source gave no frame."""
        ...

    def close(self) -> None: ...


def _nominal_fps(capture: cv2.VideoCapture) -> float:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return fps if 0 < fps < 1000 else DEFAULT_FPS


class VideoFileSource:
    """A video file decoded by OpenCV's FFmpeg backend, optionally looping.

    Frames the decoder rejects (a corrupt or truncated bitstream) are skipped and counted in
    `decode_errors`; a file of which not one frame decodes raises SourceError.
    """

    live = False

    def __init__(self, config: FileSource) -> None:
        self._path = config.path
        self._loop = config.loop
        self.realtime = config.realtime
        self.decode_errors = 0
        self.skipped_frames = 0
        self._capture = self._open()
        self.fps = _nominal_fps(self._capture)
        self._gaps = GapCounter(self.fps)
        self._index = 0
        self._pts_offset = 0.0  # added per loop so timestamps keep increasing

    def _open(self) -> cv2.VideoCapture:
        if not self._path.is_file():
            raise SourceError(f"{self._path}: video file not found")
        with capture_native_messages() as messages:
            capture = cv2.VideoCapture(str(self._path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            reason = messages.reason() or "unknown format"
            raise SourceError(f"{self._path}: cannot be decoded as a video ({reason})")
        return capture

    def _read_image(self) -> np.ndarray | None:
        for failures in range(FILE_READ_ATTEMPTS):
            ok, image = self._capture.read()
            if ok:
                self.decode_errors += failures
                self.skipped_frames += self._gaps.missing(self._capture.get(cv2.CAP_PROP_POS_MSEC))
                return image
        return None

    def read(self) -> CapturedFrame | None:
        image = self._read_image()
        if image is None:
            if self._index == 0:
                reason = "not one frame decodes"
                raise SourceError(f"{self._path}: cannot be decoded as a video ({reason})")
            if not self._loop:
                return None
            self._pts_offset = self._index / self.fps
            self._capture.release()
            self._capture = self._open()
            self._gaps = GapCounter(self.fps)
            image = self._read_image()
            if image is None:
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
    live = False  # never fails, never ends
    decode_errors = 0
    skipped_frames = 0

    def __init__(self, config: SyntheticSource) -> None:
        from pipeline.synthetic import WorksiteScene

        self._scene = WorksiteScene(
            seed=config.seed,
            width=config.width,
            height=config.height,
            fps=config.fps,
            compliance=config.compliance,
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


class LiveCaptureSource:
    """A live camera behind an opened cv2.VideoCapture (network stream, device, pipeline).

    `read()` makes one attempt: None means no frame this time (connection lost, read timeout,
    a packet the decoder rejected); the capture thread decides what that means over time.
    Timestamps are the container's when it has them, else seconds since the session opened.
    """

    realtime = True
    live = True

    def __init__(self, capture: cv2.VideoCapture, name: str) -> None:
        self.name = name  # as shown in logs: credentials masked
        self.decode_errors = 0
        self.skipped_frames = 0
        self._capture = capture
        self.fps = _nominal_fps(capture)
        self._gaps = GapCounter(self.fps)
        self._opened_at = time.monotonic()
        self._index = 0

    def read(self) -> CapturedFrame | None:
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        now = time.monotonic()
        pts_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        self.skipped_frames += self._gaps.missing(pts_ms)
        pts = pts_ms / 1000.0 if pts_ms > 0 else now - self._opened_at
        frame = CapturedFrame(image, self._index, pts, now)
        self._index += 1
        return frame

    def close(self) -> None:
        self._capture.release()


def ffmpeg_capture_options(transport: str, open_timeout: float) -> str:
    """The OPENCV_FFMPEG_CAPTURE_OPTIONS value for one network camera.

    Setting the variable replaces OpenCV's own default (`rtsp_flags;prefer_tcp`), so the
    transport is always explicit. FFmpeg probes a new stream for up to 5 s by default to learn
    its frame rate; at 10 frames/s that outlasts a short open timeout, so the probe is bounded
    to half the open timeout (and 1 s at most).
    """
    probe_us = int(min(1.0, open_timeout / 2) * 1_000_000)
    return f"rtsp_transport;{transport}|analyzeduration;{probe_us}"


def open_stream(
    config: RtspSource, camera_id: str, environ: Mapping[str, str]
) -> LiveCaptureSource:
    """Connects to a network camera. Raises StreamUnavailable (retry later), AuthenticationFailed
    or SourceError (a missing environment variable: cannot work until the site is fixed)."""
    url, secrets = _expand(config.url, camera_id, environ)
    shown = mask_url(config.url)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        round(config.open_timeout * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        round(config.read_timeout * 1000),
    ]
    started = time.monotonic()
    with capture_native_messages() as messages:
        # Process-wide, read by OpenCV at each open (each camera is its own process); set
        # under the lock capture_native_messages() holds so that opens in one process (tests)
        # never see another camera's options.
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = ffmpeg_capture_options(
            config.transport.value, config.open_timeout
        )
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    _log_native(messages, secrets)
    if capture.isOpened():
        return LiveCaptureSource(capture, shown)
    capture.release()
    reason, rejected = messages.reason(), messages.authentication_rejected()
    if reason is None and url.lower().startswith(("http://", "https://")):
        status = http_error_status(url, config.open_timeout)
        if status is not None:
            reason, rejected = f"HTTP error {status[0]} {status[1]}", status[0] in (401, 403)
    if reason is None and time.monotonic() - started >= config.open_timeout * 0.9:
        reason = f"no answer within {config.open_timeout:g} s"
    reason = mask_secrets(reason or "the stream could not be opened", secrets)
    if rejected:
        raise AuthenticationFailed(f"{shown}: {reason}")
    raise StreamUnavailable(f"{shown}: {reason}")


def _log_native(messages: NativeMessages, secrets: Sequence[str]) -> None:
    for line in messages.lines:
        logger.debug("OpenCV/FFmpeg: %s", mask_secrets(line, secrets))


def open_device(config: UsbSource) -> LiveCaptureSource:
    """A USB/V4L2 camera; the requested size and rate are asked for, the device decides."""
    name = f"/dev/video{config.device}" if isinstance(config.device, int) else config.device
    with capture_native_messages() as messages:
        capture = cv2.VideoCapture(config.device, cv2.CAP_V4L2)
    _log_native(messages, ())
    if not capture.isOpened():
        capture.release()
        raise StreamUnavailable(
            f"{name}: cannot open the device ({messages.reason() or 'absent or busy'})"
        )
    for prop, value in (
        (cv2.CAP_PROP_FRAME_WIDTH, config.width),
        (cv2.CAP_PROP_FRAME_HEIGHT, config.height),
        (cv2.CAP_PROP_FPS, config.fps),
    ):
        if value is not None:
            capture.set(prop, value)
    width, height = capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
    if (config.width and config.width != width) or (config.height and config.height != height):
        logger.warning(
            "%s: asked for %sx%s, the device delivers %dx%d",
            name,
            config.width or "-",
            config.height or "-",
            width,
            height,
        )
    return LiveCaptureSource(capture, name)


def opencv_has_gstreamer() -> bool:
    """Whether this OpenCV build can run GStreamer pipelines (`GStreamer: YES`)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return line.split(":", 1)[1].strip().upper().startswith("YES")
    return False


GSTREAMER_MISSING = (
    "this OpenCV build has no GStreamer support (cv2.getBuildInformation() shows 'GStreamer: "
    "NO'; pip's opencv-python wheels never include it). Use an OpenCV built with GStreamer: "
    "on a Jetson, JetPack's OpenCV (apt install nvidia-opencv, or python3-opencv) in a venv made "
    "with --system-site-packages and without opencv-python-headless; elsewhere build OpenCV with "
    "-DWITH_GSTREAMER=ON. Or use kind: rtsp / usb, which need no GStreamer"
)


def open_pipeline(
    config: GStreamerSource, camera_id: str, environ: Mapping[str, str]
) -> LiveCaptureSource:
    """A GStreamer pipeline; `${NAME}` in it (a camera password in rtspsrc's location) is
    expanded like a stream URL's."""
    if not opencv_has_gstreamer():
        raise SourceError(GSTREAMER_MISSING)
    pipeline, secrets = _expand(config.pipeline, camera_id, environ)
    shown = mask_url(config.pipeline)
    with capture_native_messages() as messages:
        capture = cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)
    _log_native(messages, secrets)
    if not capture.isOpened():
        capture.release()
        reason = mask_secrets(messages.reason() or "failed to start", secrets)
        raise StreamUnavailable(f"GStreamer pipeline {shown!r}: {reason}")
    return LiveCaptureSource(capture, "GStreamer pipeline")


def _expand(text: str, camera_id: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    try:
        return expand_url(text, camera_id, environ)
    except MissingVariable as error:
        raise SourceError(str(error)) from None


def check_source(config: SourceConfig, camera_id: str, environ: Mapping[str, str]) -> None:
    """Raises SourceError for what no retry can fix, before any thread starts: a missing
    environment variable, a missing file, no GStreamer in this OpenCV."""
    if isinstance(config, RtspSource):
        _expand(config.url, camera_id, environ)
    elif isinstance(config, FileSource) and not config.path.is_file():
        raise SourceError(f"{config.path}: video file not found")
    elif isinstance(config, GStreamerSource):
        if not opencv_has_gstreamer():
            raise SourceError(GSTREAMER_MISSING)
        _expand(config.pipeline, camera_id, environ)


def open_source(
    config: SourceConfig, camera_id: str = "camera", environ: Mapping[str, str] | None = None
) -> FrameSource:
    """Opens one session of the configured source (see the module docstring for errors).

    `environ` supplies `${NAME}` values of stream URLs (default: this process's environment).
    """
    if isinstance(config, FileSource):
        return VideoFileSource(config)
    if isinstance(config, SyntheticSource):
        return SyntheticWorksiteSource(config)
    if isinstance(config, RtspSource):
        return open_stream(config, camera_id, os.environ if environ is None else environ)
    if isinstance(config, UsbSource):
        return open_device(config)
    return open_pipeline(config, camera_id, os.environ if environ is None else environ)


def describe_source(config: SourceConfig) -> str:
    """How a source is named in log lines (credentials masked)."""
    if isinstance(config, FileSource):
        return str(config.path)
    if isinstance(config, SyntheticSource):
        return f"synthetic worksite (seed {config.seed})"
    if isinstance(config, RtspSource):
        return mask_url(config.url)
    if isinstance(config, UsbSource):
        return f"/dev/video{config.device}" if isinstance(config.device, int) else config.device
    return f"GStreamer pipeline {mask_url(config.pipeline)!r}"
