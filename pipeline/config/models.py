"""The site configuration: frozen pydantic models, validated once at startup (the cameras'
sources in sources.py, the backends' settings in backends.py).

Relative paths resolve against the current working directory, as in the predecessor's
command line (`--config config/x.yaml --roi rois/y.json`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from pipeline.config.backends import Backend, OnnxRuntimeConfig, TensorRtConfig, TorchConfig
from pipeline.config.compliance import ComplianceConfig
from pipeline.config.events import EventsConfig
from pipeline.config.evidence import EvidenceConfig, RecordingConfig
from pipeline.config.frozen import Frozen
from pipeline.config.sources import CAMERA_ID_PATTERN, CameraConfig
from pipeline.infer.layouts.layout import Layout, Preprocessing

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$"


class ModelConfig(Frozen):
    """One detector of the site. Every model runs on every batch; its detections carry its
    index in the site's model list."""

    name: str | None = Field(
        None,
        pattern=MODEL_NAME_PATTERN,
        title="Name in the log, dashboard and detections (default: the file's stem)",
    )
    path: Path = Field(title="Detector model (ONNX)")
    backend: Backend = Backend.ONNXRUNTIME
    conf_threshold: float = Field(0.35, gt=0, lt=1)
    iou_threshold: float = Field(0.5, gt=0, le=1)
    max_detections: int = Field(100, ge=1, le=1000, title="Per frame, after NMS")
    classes: tuple[str, ...] | None = Field(
        None, min_length=1, title="Classes kept from this model (default: all of them)"
    )
    class_names: tuple[str, ...] | None = Field(
        None, min_length=1, title="Class names, for a model file that carries none"
    )
    input_size: tuple[int, int] | None = Field(
        None, title="Input (width, height) in pixels, for a model whose file leaves it open"
    )
    layout: Layout | None = Field(None, title="Output layout (default: read from the model)")
    preprocessing: Preprocessing | None = Field(
        None, title="letterbox or stretch (default: what the layout expects)"
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: object) -> object:
        if isinstance(data, dict) and "threads" in data:
            raise ValueError(
                "threads: ONNX Runtime's threads are set once for the site now: write "
                "`onnxruntime: {threads: N}` at the top level instead"
            )
        return data

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is not None and not all(32 <= side <= 4096 for side in size):
            raise ValueError(f"input_size is [width, height], each 32..4096 pixels (got {size})")
        return size

    @property
    def display_name(self) -> str:
        return self.name or self.path.stem[:16]


class InferenceConfig(Frozen):
    max_batch: int = Field(8, ge=1, le=256, title="Frames per batch, at most one per camera")
    max_wait_ms: float = Field(
        15.0, ge=0, le=1000, title="How long a partial batch waits for more cameras"
    )
    report_interval: float = Field(
        60.0,
        ge=1,
        le=86400,
        title="Seconds between log lines on where inference time goes (stages, CPU per image)",
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
    supervisor_startup_timeout: float = Field(
        600.0,
        gt=0,
        le=7200,
        title="Seconds a process may take to start (load its models) before its first beat",
    )
    supervisor_max_restarts: int = Field(5, ge=0, le=1000)
    supervisor_restart_window: float = Field(3600.0, gt=0)
    supervisor_startsecs: float = Field(
        1.0,
        ge=0,
        le=600,
        title="Seconds a process must keep beating after its first beat to count as RUNNING",
    )
    supervisor_backoff_initial: float = Field(
        0.5, gt=0, le=600, title="Seconds before the first restart; doubles per restart"
    )
    supervisor_backoff_max: float = Field(
        30.0, gt=0, le=3600, title="Longest restart delay (seconds), jitter included"
    )
    supervisor_healthy_period: float = Field(
        300.0,
        gt=0,
        le=86400,
        title="Seconds RUNNING after which a process's restart budget and backoff start afresh",
    )
    supervisor_fatal_retry: float = Field(
        3600.0,
        ge=0,
        le=30 * 86400,
        title="Seconds after which a process FATAL from crashing is tried again (0: never)",
    )
    supervisor_abort_grace: float = Field(
        5.0,
        gt=0,
        le=120,
        title="Seconds a hung process has after SIGABRT to write its traceback before SIGKILL",
    )
    supervisor_inference_timeout: float = Field(
        60.0,
        gt=0,
        le=3600,
        title="Seconds one model call may take before the inference process counts as hung",
    )
    supervisor_shutdown_timeout: float = Field(
        30.0, gt=0, le=600, title="Seconds a clean stop may take before what is left is killed"
    )
    model: ModelConfig | None = Field(None, title="The site's one detector (or use models:)")
    models: tuple[ModelConfig, ...] | None = Field(
        None, min_length=1, max_length=8, title="Several detectors, all run on every batch"
    )
    onnxruntime: OnnxRuntimeConfig = OnnxRuntimeConfig()
    tensorrt: TensorRtConfig = TensorRtConfig()
    torch: TorchConfig = TorchConfig()
    compliance: ComplianceConfig = ComplianceConfig()
    events: EventsConfig = EventsConfig()
    inference: InferenceConfig = InferenceConfig()
    transport: TransportConfig = TransportConfig()
    recording: RecordingConfig = RecordingConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    detections_log: DetectionsLogConfig = DetectionsLogConfig()
    dashboard: DashboardConfig = DashboardConfig()
    cameras: list[CameraConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_model_list(self) -> SiteConfig:
        if (self.model is None) == (self.models is None):
            raise ValueError(
                "give either model: (one detector) or models: (a list), not "
                + ("both" if self.model is not None else "neither")
            )
        names = [model.display_name for model in self.detectors]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(
                f"models: the name {', '.join(repeated)} is used twice; give each a `name:`"
            )
        return self

    @property
    def detectors(self) -> tuple[ModelConfig, ...]:
        """Every model of the site, in order (their index is each detection's model index)."""
        if self.models is not None:
            return self.models
        assert self.model is not None
        return (self.model,)
