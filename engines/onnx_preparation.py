"""The ONNX TensorRT parses: the site's file with the frames input, typed for the precision.

- every route: the uint8 frames input in front (engines/frames_input.py);
- fp16 on TensorRT 11: ModelOpt AutoCast to FP16 with FP32 inputs and outputs kept
  (`modelopt.onnx.autocast.convert_to_mixed_precision(onnx_path=..., low_precision_type="fp16",
  keep_io_types=True)`, shared/API_NOTES.md §1);
- int8 with ModelOpt: a Q/DQ graph calibrated on the site's frames
  (`modelopt.onnx.quantization.quantize(onnx_path, quantize_mode="int8", calibration_data=...,
  calibration_method="entropy", output_path=...)`), cached by set, ModelOpt version and ONNX.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx

from engines.calibration import qdq_onnx_file
from engines.frames_input import FRAMES_INPUT, with_frames_input
from engines.precision import PrecisionRoute
from engines.targets import EngineTarget
from pipeline.infer.layouts import extra_inputs

logger = logging.getLogger(__name__)


class PreparationError(RuntimeError):
    """The ONNX could not be prepared for the build; says which step and why."""


def calibration_feed(target: EngineTarget, frames: np.ndarray) -> dict[str, np.ndarray]:
    """Inputs by name for calibrating on `frames` (N, H, W, 3) uint8: the frames and any
    extra input the layout needs (RT-DETR's target sizes), N rows each."""
    spec = target.spec
    extra = extra_inputs(spec.layout, len(frames), (spec.input_width, spec.input_height))
    return {FRAMES_INPUT: frames, **extra}


def prepare_onnx(
    target: EngineTarget,
    route: PrecisionRoute,
    work_dir: Path,
    onnx_sha256: str,
    calibration: tuple[str, np.ndarray] | None,
    modelopt_version: str | None,
) -> Path:
    """Write the graph to parse into `work_dir` (or the calibration cache) and return its path.

    `calibration`: (set id, frames) for int8 routes.
    """
    source = onnx.load(str(target.onnx))
    framed = with_frames_input(source, target.spec.input_name)
    framed_path = work_dir / f"{target.onnx.stem}.frames.onnx"
    onnx.save(framed, str(framed_path))
    if route is PrecisionRoute.FP16_AUTOCAST:
        return _autocast_fp16(framed_path, work_dir)
    if route is PrecisionRoute.INT8_QDQ:
        if calibration is None or modelopt_version is None:
            raise PreparationError("int8 Q/DQ needs calibration frames and ModelOpt")
        identity, frames = calibration
        engine_dir = target.engine.parent
        output = qdq_onnx_file(
            engine_dir, target.onnx.stem, identity, modelopt_version, onnx_sha256
        )
        if output.is_file():
            logger.info("Q/DQ ONNX: %s (cached)", output)
            return output
        return _quantize_int8(framed_path, output, calibration_feed(target, frames))
    return framed_path


def _autocast_fp16(framed: Path, work_dir: Path) -> Path:
    try:
        from modelopt.onnx.autocast import convert_to_mixed_precision
    except ImportError as error:
        raise PreparationError(f"ModelOpt AutoCast does not import: {error}") from None
    output = work_dir / f"{framed.stem}.fp16.onnx"
    try:
        converted = convert_to_mixed_precision(
            onnx_path=str(framed), low_precision_type="fp16", keep_io_types=True
        )
    except Exception as error:  # ModelOpt raises whatever its passes raise
        raise PreparationError(f"ModelOpt AutoCast failed on {framed.name}: {error}") from error
    onnx.save(converted, str(output))
    logger.info("FP16 ONNX by ModelOpt AutoCast (FP32 I/O kept): %s", output)
    return output


def _quantize_int8(framed: Path, output: Path, feed: dict[str, np.ndarray]) -> Path:
    try:
        from modelopt.onnx.quantization import quantize
    except ImportError as error:
        raise PreparationError(f"ModelOpt quantization does not import: {error}") from None
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".tmp.onnx")
    data: np.ndarray | dict[str, np.ndarray] = feed if len(feed) > 1 else feed[FRAMES_INPUT]
    try:
        quantize(
            str(framed),
            quantize_mode="int8",
            calibration_data=data,
            calibration_method="entropy",
            # What is not quantized runs in FP16 (ModelOpt's documented default, stated so
            # that a changed default cannot turn the rest of an int8 engine into FP32).
            high_precision_dtype="fp16",
            output_path=str(temporary),
        )
    except Exception as error:  # ModelOpt raises whatever its passes raise
        raise PreparationError(f"ModelOpt int8 quantization failed: {error}") from error
    temporary.replace(output)
    logger.info(
        "Q/DQ ONNX by ModelOpt (%d calibration frames): %s", len(feed[FRAMES_INPUT]), output
    )
    return output
