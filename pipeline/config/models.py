"""The site configuration: frozen pydantic models, validated once at startup.

Relative paths resolve against the current working directory, as in the predecessor's
command line (`--config config/x.yaml --roi rois/y.json`).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Backend(str, Enum):
    ONNXRUNTIME = "onnxruntime"


class SourceKind(str, Enum):
    FILE = "file"
    SYNTHETIC = "synthetic"


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


Source = Annotated[FileSource | SyntheticSource, Field(discriminator="kind")]


class CameraConfig(Frozen):
    id: str = Field(pattern=CAMERA_ID_PATTERN, title="Camera id, shown as [ID] in the log")
    source: Source
    target_fps: float | None = Field(
        None, gt=0, le=240, title="Frames per second analysed (None: the source's rate)"
    )
    roi: Path | None = Field(None, title="ROI polygons JSON for this camera (overrides the site's)")
    roi_polys: tuple[str, ...] | None = Field(None, title="Names of the ROI polygons to use")


class ModelConfig(Frozen):
    path: Path = Field(title="Detector model (ONNX)")
    backend: Backend = Backend.ONNXRUNTIME
    conf_threshold: float = Field(0.35, gt=0, lt=1)
    iou_threshold: float = Field(0.5, gt=0, le=1)
    max_detections: int = Field(100, ge=1, le=1000, title="Per frame, after NMS")
    threads: int = Field(
        0, ge=0, le=256, title="ONNX Runtime intra-op threads (0: library default)"
    )


class InferenceConfig(Frozen):
    max_batch: int = Field(8, ge=1, le=256, title="Frames per batch, at most one per camera")
    max_wait_ms: float = Field(
        15.0, ge=0, le=1000, title="How long a partial batch waits for more cameras"
    )


class TransportConfig(Frozen):
    ring_slots: int = Field(4, ge=2, le=64, title="Shared-memory slots per camera")
    max_in_flight: int = Field(
        2,
        ge=1,
        le=63,
        title="Frames a camera may have awaiting results before it drops at the source",
    )
    result_timeout: float = Field(
        2.0, gt=0, le=60, title="Seconds after which an unanswered frame is given up (counted)"
    )


class RecordingConfig(Frozen):
    enabled: bool = True
    fourcc: str = Field("mp4v", min_length=4, max_length=4, title="OpenCV FourCC of the recording")


class DetectionsLogConfig(Frozen):
    enabled: bool = True
    every_n_frames: int = Field(
        1, ge=1, title="Write one `detections` line every N processed frames"
    )


class DashboardConfig(Frozen):
    refresh_hz: float = Field(4.0, gt=0, le=30)
    status_line_interval: float = Field(
        5.0, gt=0, title="Seconds between status lines when stdout is not a terminal"
    )


class SiteConfig(Frozen):
    site: str = Field(
        "site", pattern=CAMERA_ID_PATTERN, title="Site name (run folder, segment names)"
    )
    output_dir: Path | None = Field(None, title="Run folder (default runs/<site>/<UTC timestamp>)")
    log_file: Path | None = Field(None, title="Central log (default <output_dir>/pipeline.log)")
    prompts: Path | None = Field(
        None, title="Prompts YAML: the classes the detector was exported with"
    )
    roi: Path | None = Field(None, title="ROI polygons JSON applied to every camera")
    roi_polys: tuple[str, ...] | None = None
    supervisor_heartbeat_timeout: float = Field(30.0, gt=0, le=3600)
    supervisor_max_restarts: int = Field(5, ge=0, le=1000)
    supervisor_restart_window: float = Field(3600.0, gt=0)
    model: ModelConfig
    inference: InferenceConfig = InferenceConfig()
    transport: TransportConfig = TransportConfig()
    recording: RecordingConfig = RecordingConfig()
    detections_log: DetectionsLogConfig = DetectionsLogConfig()
    dashboard: DashboardConfig = DashboardConfig()
    cameras: list[CameraConfig] = Field(min_length=1)
