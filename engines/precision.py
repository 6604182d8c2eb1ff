"""How a precision is obtained on the TensorRT at hand, or why it cannot be. Pure.

TensorRT 10 reduces precision with builder flags (FP16, INT8 with a calibrator); TensorRT 11
removed those flags and the calibrators: its networks are strongly typed, so the ONNX itself
must carry the types (FP16 by ModelOpt AutoCast with FP32 inputs and outputs kept; INT8 as a
Q/DQ graph from ModelOpt) (shared/API_NOTES.md §1, BuilderConfig and INT8 calibration). The
route is chosen from the major version, never by probing `hasattr(trt.BuilderFlag, "FP16")`:
that probe is how code silently builds FP32 engines on TensorRT 11 (roboflow/rf-detr #1453).
"""

from __future__ import annotations

from enum import Enum

from pipeline.config.backends import Precision


class PrecisionUnavailable(RuntimeError):
    """The precision asked for cannot be had here; the message says why and what to install."""


class PrecisionRoute(str, Enum):
    FP32 = "fp32: no reduced precision"
    FP16_BUILDER_FLAG = "fp16: BuilderFlag.FP16 (TensorRT 10)"
    FP16_AUTOCAST = (
        "fp16: ONNX converted by ModelOpt AutoCast, FP32 I/O (TensorRT 11, strongly typed)"
    )
    INT8_CALIBRATOR = "int8: entropy calibrator, FP16 fallback (TensorRT 10)"
    INT8_QDQ = "int8: Q/DQ ONNX from ModelOpt, FP16 elsewhere"

    @property
    def needs_modelopt(self) -> bool:
        return self in (PrecisionRoute.FP16_AUTOCAST, PrecisionRoute.INT8_QDQ)

    def builder_flags(self, tensorrt_major: int) -> tuple[str, ...]:
        """Names of the trt.BuilderFlag members to set: none on TensorRT 11, which has no
        precision flags; on 10, FP16 for fp16 and INT8 + FP16 for int8 (calibrated, or
        explicit Q/DQ in a weakly typed network, FP16 for the layers left unquantized)."""
        if tensorrt_major >= 11:
            return ()
        if self is PrecisionRoute.FP16_BUILDER_FLAG:
            return ("FP16",)
        if self in (PrecisionRoute.INT8_CALIBRATOR, PrecisionRoute.INT8_QDQ):
            return ("INT8", "FP16")
        return ()


SUPPORTED_MAJORS = (10, 11)
MODELOPT_HINT = "pip install nvidia-modelopt[onnx]"


def tensorrt_major(version: str) -> int:
    """10 for "10.16.0.72"; PrecisionUnavailable for a version this code does not know."""
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise PrecisionUnavailable(f"cannot read TensorRT's version {version!r}") from None
    if major not in SUPPORTED_MAJORS:
        raise PrecisionUnavailable(
            f"TensorRT {version} is not supported (engines are built with TensorRT 10 or 11)"
        )
    return major


def precision_route(
    precision: Precision, tensorrt_version: str, modelopt_version: str | None
) -> PrecisionRoute:
    """The route to `precision` on `tensorrt_version`, given ModelOpt's version (None when
    it is not installed). INT8 prefers explicit quantization (Q/DQ) wherever ModelOpt is
    there: TensorRT deprecated its calibrators in 10.1."""
    major = tensorrt_major(tensorrt_version)
    if precision is Precision.FP32:
        return PrecisionRoute.FP32
    if precision is Precision.FP16:
        if major == 10:
            return PrecisionRoute.FP16_BUILDER_FLAG
        if modelopt_version is None:
            raise PrecisionUnavailable(
                f"fp16 on TensorRT {tensorrt_version} needs the ONNX converted to FP16 first "
                "(TensorRT 11 removed the FP16 builder flag) and ModelOpt, which does it, is "
                f"not installed: {MODELOPT_HINT}, or set tensorrt.precision: fp32"
            )
        return PrecisionRoute.FP16_AUTOCAST
    if modelopt_version is not None:
        return PrecisionRoute.INT8_QDQ
    if major == 10:
        return PrecisionRoute.INT8_CALIBRATOR
    raise PrecisionUnavailable(
        f"int8 on TensorRT {tensorrt_version} needs a Q/DQ ONNX from ModelOpt (TensorRT 11 "
        f"removed the calibrators) and ModelOpt is not installed: {MODELOPT_HINT}"
    )
