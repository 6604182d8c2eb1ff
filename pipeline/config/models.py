"""The site configuration: frozen pydantic models, validated once at startup.

Relative paths resolve against the current working directory, as in the predecessor's
command line (`--config config/x.yaml --roi rois/y.json`).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pipeline.camera.urls import check_url_variables, mask_url
from pipeline.config.compliance import ComplianceConfig
from pipeline.config.events import EventsConfig
from pipeline.config.evidence import EvidenceConfig, RecordingConfig
from pipeline.config.frozen import Frozen
from pipeline.infer.layouts.layout import Layout, Preprocessing

CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


class Backend(str, Enum):
    ONNXRUNTIME = "onnxruntime"
    TENSORRT = "tensorrt"  # an engine built by `make engines` (engines/), see `tensorrt:`
    TORCH = "torch"  # the ONNX graph run by PyTorch (requirements-torch.txt), see `torch:`
    AUTO = "auto"  # tensorrt where an up-to-date engine exists, else onnxruntime


class Precision(str, Enum):
    """Precision a TensorRT engine is built in; one that cannot be had is refused, never
    quietly replaced by another."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


class TorchDevice(str, Enum):
    AUTO = "auto"  # CUDA where PyTorch sees a GPU, else the CPU
    CPU = "cpu"
    CUDA = "cuda"


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


class Provider(str, Enum):
    """ONNX Runtime execution providers, in the order given: the first that takes a node runs it."""

    CPU = "cpu"
    CUDA = "cuda"
    TENSORRT = "tensorrt"


class OnnxRuntimeConfig(Frozen):
    """Settings of the ONNX Runtime backend, shared by every model that uses it."""

    providers: tuple[Provider, ...] = Field(
        (Provider.CPU,), min_length=1, title="Execution providers in priority order"
    )
    threads: int = Field(
        0, ge=0, le=256, title="Intra-op threads per session (0: one per physical core)"
    )
    device_id: int = Field(0, ge=0, le=63, title="GPU for the CUDA and TensorRT providers")
    trt_fp16: bool = Field(True, title="TensorRT provider: allow FP16 kernels")
    trt_engine_cache: Path | None = Field(
        None, title="TensorRT provider: folder where built engines are kept between starts"
    )
    uint8_input: bool | None = Field(
        None,
        title="Hand the session the uint8 frames, normalised inside the graph, through IO "
        "binding (None: on for the cuda and tensorrt providers, a quarter of the bytes to the "
        "GPU; off on the CPU, where numpy normalises as fast)",
    )

    @field_validator("providers")
    @classmethod
    def _distinct(cls, providers: tuple[Provider, ...]) -> tuple[Provider, ...]:
        if len(set(providers)) != len(providers):
            raise ValueError("each provider may be listed once")
        return providers


class BatchProfile(Frozen):
    """A TensorRT optimization profile over the batch axis, in images per call."""

    min: int = Field(1, ge=1, le=256, title="Smallest batch the engine takes")
    opt: int | None = Field(None, ge=1, le=256, title="Batch tuned for (default: max)")
    max: int | None = Field(
        None, ge=1, le=256, title="Largest batch (default: inference.max_batch)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> BatchProfile:
        given = [value for value in (self.min, self.opt, self.max) if value is not None]
        if given != sorted(given):
            raise ValueError(
                f"batch profile needs min <= opt <= max (got {self.min}/{self.opt}/{self.max})"
            )
        return self


class TensorRtConfig(Frozen):
    """Engines of the TensorRT backend (`make engines`), shared by every model that uses it."""

    engine_dir: Path = Field(Path("models/engines"), title="Folder of built engines and manifests")
    precision: Precision = Field(Precision.FP16, title="fp32, fp16 or int8 (int8 needs frames)")
    batch: BatchProfile = Field(BatchProfile(), title="Optimization profile of the batch axis")
    workspace_mib: int = Field(4096, ge=64, le=1 << 20, title="Builder workspace limit (MiB)")
    timing_cache: Path | None = Field(
        None, title="Timing cache kept between builds (default <engine_dir>/timing.cache)"
    )
    dla_core: int | None = Field(None, ge=0, le=7, title="Jetson DLA core (GPU fallback on)")
    calibration_frames: Path | None = Field(
        None, title="int8: folder of frames (.jpg/.png) from the site's own cameras"
    )
    calibration_count: int = Field(256, ge=8, le=100_000, title="int8: frames used to calibrate")
    device_id: int = Field(0, ge=0, le=63, title="GPU the engines are built for and run on")
    rebuild_stale: bool = Field(
        False, title="At start, build a missing or stale engine (minutes) instead of refusing"
    )

    @model_validator(mode="after")
    def _int8_has_frames(self) -> TensorRtConfig:
        if self.precision is Precision.INT8 and self.calibration_frames is None:
            raise ValueError(
                "precision int8 needs calibration_frames: a folder of frames from the site's "
                "cameras (a few hundred .jpg or .png)"
            )
        return self


class TorchConfig(Frozen):
    """Settings of the PyTorch backend (requirements-torch.txt)."""

    device: TorchDevice = Field(TorchDevice.AUTO, title="auto, cpu or cuda")
    device_id: int = Field(0, ge=0, le=63, title="GPU on CUDA")
    half: bool = Field(True, title="On CUDA, run in float16 (the CPU always runs float32)")
    threads: int = Field(0, ge=0, le=256, title="CPU threads (0: PyTorch's default)")


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
