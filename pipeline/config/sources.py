"""The cameras of the site file: each camera's id and its source (a file, the synthetic
worksite, RTSP/HTTP, a USB device, a GStreamer pipeline), as frozen pydantic models."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pipeline.camera.urls import check_url_variables, mask_url
from pipeline.config.frozen import Frozen

CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


class SourceKind(str, Enum):
    FILE = "file"
    SYNTHETIC = "synthetic"
    RTSP = "rtsp"
    USB = "usb"
    GSTREAMER = "gstreamer"


class Transport(str, Enum):
    TCP = "tcp"
    UDP = "udp"


class FileSource(Frozen):
    """A video file, decoded with OpenCV."""

    kind: Literal[SourceKind.FILE] = SourceKind.FILE
    path: Path
    loop: bool = Field(True, title="Start again at the end of the file")
    realtime: bool = Field(
        True, title="Pace reading at the file's frame rate (False: as fast as the pipeline takes)"
    )


class SyntheticSource(Frozen):
    """A live rendered worksite (the project's scene generator), for demos and tests."""

    kind: Literal[SourceKind.SYNTHETIC] = SourceKind.SYNTHETIC
    seed: int = Field(0, ge=0)
    width: int = Field(640, ge=64, le=7680)
    height: int = Field(360, ge=64, le=4320)
    fps: float = Field(10.0, gt=0, le=240, title="Frame rate of the rendered scene")
    start_index: int = Field(0, ge=0, title="First frame index rendered")
    compliance: bool = Field(
        False,
        title="The seed's scripted compliance scene: a work zone, PPE taken off and put back "
        "on, crossings, look-alikes (pipeline.synthetic.script)",
    )


class LiveSource(Frozen):
    """What every live camera shares: when it counts as stalled, how it is retried."""

    stall_timeout: float = Field(
        10.0,
        gt=0,
        le=600,
        title="Seconds without a new frame before the stream counts as stalled and is reopened",
    )
    reconnect_initial: float = Field(
        1.0, gt=0, le=600, title="Seconds before the first retry; doubles per failure"
    )
    reconnect_max: float = Field(
        60.0, gt=0, le=3600, title="Longest wait between retries (also after a rejected password)"
    )

    @model_validator(mode="after")
    def _backoff_grows(self) -> LiveSource:
        if self.reconnect_max < self.reconnect_initial:
            raise ValueError(
                f"reconnect_max ({self.reconnect_max:g}) must be >= reconnect_initial "
                f"({self.reconnect_initial:g})"
            )
        return self


STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


class RtspSource(LiveSource):
    """A network camera: RTSP, RTSPS or HTTP(S) (MJPEG, HLS...), decoded by OpenCV's FFmpeg.

    Credentials come from environment variables: `rtsp://admin:${CAM063_PASSWORD}@host/s1`
    (write the password as it is: vigia percent-encodes it).
    """

    kind: Literal[SourceKind.RTSP] = SourceKind.RTSP
    url: str = Field(
        min_length=8, title="Stream URL; ${NAME} is replaced by environment variable NAME"
    )
    transport: Transport = Field(Transport.TCP, title="RTSP over TCP (robust) or UDP")
    open_timeout: float = Field(
        10.0, ge=0.1, le=120, title="Seconds to connect and learn the stream's format"
    )
    read_timeout: float = Field(
        5.0, ge=0.1, le=120, title="Seconds one read may wait for data before giving up"
    )

    @model_validator(mode="before")
    @classmethod
    def _check_url(cls, data: object) -> object:
        # Checked here rather than in a field validator so that an error message never
        # carries the raw URL (which may hold a password): only its masked form.
        url = data.get("url") if isinstance(data, dict) else None
        if isinstance(url, str):
            if not url.lower().startswith(STREAM_SCHEMES):
                raise ValueError(
                    f"url must start with {', '.join(STREAM_SCHEMES)} (got {mask_url(url)!r}); "
                    "USB cameras are kind: usb, files kind: file"
                )
            check_url_variables(url)
        return data


class UsbSource(LiveSource):
    """A USB (V4L2) camera by index (0 is /dev/video0) or device path."""

    kind: Literal[SourceKind.USB] = SourceKind.USB
    device: int | str = Field(title="Device index or path, e.g. 0 or /dev/video0")
    width: int | None = Field(None, ge=16, le=7680, title="Requested frame width (pixels)")
    height: int | None = Field(None, ge=16, le=4320, title="Requested frame height (pixels)")
    fps: float | None = Field(None, gt=0, le=240, title="Requested frame rate")

    @field_validator("device")
    @classmethod
    def _index_or_path(cls, device: int | str) -> int | str:
        if isinstance(device, int) and not 0 <= device <= 255:
            raise ValueError("a device index is 0..255 (0 is /dev/video0)")
        if isinstance(device, str) and not device.startswith("/"):
            raise ValueError("a device path starts with /, e.g. /dev/video0")
        return device


class GStreamerSource(LiveSource):
    """A GStreamer pipeline ending in appsink (Jetson hardware decode); needs an OpenCV built
    with GStreamer. `${NAME}` is replaced by environment variable NAME, as in stream URLs."""

    kind: Literal[SourceKind.GSTREAMER] = SourceKind.GSTREAMER
    pipeline: str = Field(min_length=1, title="gst-launch syntax, ending in appsink")

    @model_validator(mode="before")
    @classmethod
    def _ends_in_appsink(cls, data: object) -> object:
        # A pipeline may hold a camera URL with a password: errors show it masked only.
        pipeline = data.get("pipeline") if isinstance(data, dict) else None
        if isinstance(pipeline, str):
            check_url_variables(pipeline)
        if isinstance(pipeline, str) and "appsink" not in pipeline:
            raise ValueError(
                f"pipeline must end in an appsink OpenCV can read, e.g. '... ! videoconvert ! "
                f"video/x-raw,format=BGR ! appsink drop=true max-buffers=1' "
                f"(got {mask_url(pipeline)!r})"
            )
        return data


SourceConfig = FileSource | SyntheticSource | RtspSource | UsbSource | GStreamerSource
Source = Annotated[SourceConfig, Field(discriminator="kind")]


class CameraConfig(Frozen):
    id: str = Field(pattern=CAMERA_ID_PATTERN, title="Camera id, shown as [ID] in the log")
    source: Source
    target_fps: float | None = Field(
        None, gt=0, le=240, title="Frames per second analysed (None: the source's rate)"
    )
    roi: Path | None = Field(None, title="ROI polygons JSON for this camera (overrides the site's)")
    roi_polys: tuple[str, ...] | None = Field(None, title="Names of the ROI polygons to use")
