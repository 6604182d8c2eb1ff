"""The route to each precision on TensorRT 10 and 11, and the refusals: never a silent FP32."""

from __future__ import annotations

import pytest

from engines.precision import PrecisionRoute, PrecisionUnavailable, precision_route
from pipeline.config.backends import Precision

TRT10, TRT11 = "10.16.0.72", "11.1.0.106"
MODELOPT = "0.47.0"


@pytest.mark.parametrize(
    ("precision", "version", "modelopt", "route", "flags"),
    [
        (Precision.FP32, TRT10, None, PrecisionRoute.FP32, ()),
        (Precision.FP32, TRT11, None, PrecisionRoute.FP32, ()),
        (Precision.FP16, TRT10, None, PrecisionRoute.FP16_BUILDER_FLAG, ("FP16",)),
        (Precision.FP16, TRT10, MODELOPT, PrecisionRoute.FP16_BUILDER_FLAG, ("FP16",)),
        (Precision.FP16, TRT11, MODELOPT, PrecisionRoute.FP16_AUTOCAST, ()),
        (Precision.INT8, TRT10, None, PrecisionRoute.INT8_CALIBRATOR, ("INT8", "FP16")),
        (Precision.INT8, TRT10, MODELOPT, PrecisionRoute.INT8_QDQ, ("INT8", "FP16")),
        (Precision.INT8, TRT11, MODELOPT, PrecisionRoute.INT8_QDQ, ()),
        (
            Precision.FP16,
            "10.3.0.26",
            None,
            PrecisionRoute.FP16_BUILDER_FLAG,
            ("FP16",),
        ),  # JetPack 6
    ],
)
def test_routes(precision, version, modelopt, route, flags):
    chosen = precision_route(precision, version, modelopt)
    assert chosen is route
    assert chosen.builder_flags(int(version.split(".")[0])) == flags
    assert chosen.needs_modelopt == (
        route in (PrecisionRoute.FP16_AUTOCAST, PrecisionRoute.INT8_QDQ)
    )


@pytest.mark.parametrize(
    ("precision", "version", "message"),
    [
        (
            Precision.FP16,
            TRT11,
            r"fp16 on TensorRT 11\.1\.0\.106 needs the ONNX converted to FP16 first .*pip install nvidia-modelopt\[onnx\], or set tensorrt\.precision: fp32",
        ),
        (
            Precision.INT8,
            TRT11,
            r"int8 on TensorRT 11\.1\.0\.106 needs a Q/DQ ONNX from ModelOpt .*removed the calibrators",
        ),
        (
            Precision.FP16,
            "8.6.1",
            r"TensorRT 8\.6\.1 is not supported \(engines are built with TensorRT 10 or 11\)",
        ),
        (Precision.FP16, "12.0.0", r"TensorRT 12\.0\.0 is not supported"),
        (Precision.FP16, "dev", r"cannot read TensorRT's version 'dev'"),
    ],
)
def test_what_cannot_be_had_is_refused(precision, version, message):
    with pytest.raises(PrecisionUnavailable, match=message):
        precision_route(precision, version, None)
