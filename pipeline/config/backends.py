"""The inference backends of the site file: which one a model runs on, and the settings of
ONNX Runtime, TensorRT and PyTorch, as frozen pydantic models."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from pipeline.config.frozen import Frozen


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
        0,
        ge=0,
        le=256,
        title="Intra-op threads per session (0: one per CPU less one, left to the cameras)",
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


class CalibrationCapture(Frozen):
    """INT8 calibration frames read by `make engines` from each of the site's cameras, when
    `tensorrt.calibration_frames` names no folder. Kept in `<engine_dir>/calibration/` and
    reused until the cameras or these settings change (engines/calibration_capture.py)."""

    per_camera: int = Field(32, ge=8, le=10_000, title="Frames kept from each camera")
    spread_s: float = Field(
        4.0,
        ge=0,
        le=3600,
        title="Seconds of each camera's stream the frames are spread over (the stream's own "
        "time: a file or the synthetic scene is read as fast as it decodes)",
    )


class TensorRtConfig(Frozen):
    """Engines of the TensorRT backend (`make engines`), shared by every model that uses it."""

    engine_dir: Path = Field(Path("models/engines"), title="Folder of built engines and manifests")
    precision: Precision = Field(
        Precision.FP16, title="fp32, fp16 or int8 (int8: calibration frames)"
    )
    batch: BatchProfile = Field(BatchProfile(), title="Optimization profile of the batch axis")
    workspace_mib: int = Field(4096, ge=64, le=1 << 20, title="Builder workspace limit (MiB)")
    timing_cache: Path | None = Field(
        None,
        title="Timing cache kept between builds (default: one per GPU and TensorRT version, "
        "<engine_dir>/timing.<gpu>.sm<compute capability>.trt<version>.cache)",
    )
    dla_core: int | None = Field(None, ge=0, le=7, title="Jetson DLA core (GPU fallback on)")
    calibration_frames: Path | None = Field(
        None,
        title="int8: folder of frames (.jpg/.png) from the site's own cameras (None: `make "
        "engines` captures them from the site's cameras, as calibration_capture says)",
    )
    calibration_capture: CalibrationCapture = Field(
        CalibrationCapture(), title="int8 without calibration_frames: what is read from each camera"
    )
    calibration_count: int = Field(
        256, ge=8, le=100_000, title="int8: frames used to calibrate (spread over those there are)"
    )
    device_id: int = Field(0, ge=0, le=63, title="GPU the engines are built for and run on")
    rebuild_stale: bool = Field(
        False, title="At start, build a missing or stale engine (minutes) instead of refusing"
    )


class TorchConfig(Frozen):
    """Settings of the PyTorch backend (requirements-torch.txt)."""

    device: TorchDevice = Field(TorchDevice.AUTO, title="auto, cpu or cuda")
    device_id: int = Field(0, ge=0, le=63, title="GPU on CUDA")
    half: bool = Field(True, title="On CUDA, run in float16 (the CPU always runs float32)")
    threads: int = Field(0, ge=0, le=256, title="CPU threads (0: PyTorch's default)")
