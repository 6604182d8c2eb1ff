"""The verdict on an engine: every way it can go stale is named, with what it was and is."""

from __future__ import annotations

import pytest

from engines.manifest import BuildSettings, EngineManifest, ManifestError, TensorInfo
from engines.staleness import EngineState, StaleReason, judge
from pipeline.config.backends import Precision
from tests.engines.sites import H200

SHA = "a" * 64
WANTED = BuildSettings(
    onnx_sha256=SHA,
    precision=Precision.FP16,
    batch_profile=(1, 8, 8),
    frames_input="frames_bgr_u8",
    input_shape=(8, 320, 320, 3),
)


def manifest(settings: BuildSettings = WANTED, **device: str) -> EngineManifest:
    return EngineManifest(
        source_onnx="models/demo/ppe-demo.onnx",
        settings=settings,
        device=H200.model_copy(update=device),
        onnx_inputs=(TensorInfo(name="images", dims=("batch", 3, 320, 320)),),
        onnx_outputs=(TensorInfo(name="output0", dims=("batch", 7, 8500)),),
        metadata={},
        classes=("person", "helmet", "vest"),
        layout="yolo",
        precision_route="fp16: BuilderFlag.FP16 (TensorRT 10)",
        built_at="2026-12-01T20:00:00+00:00",
        build_seconds=61.0,
    )


@pytest.fixture
def engine(tmp_path):
    path = tmp_path / "ppe-demo.fp16.engine"
    path.write_bytes(b"serialized engine stand-in: staleness never reads it")
    return path


@pytest.mark.parametrize(
    ("built", "device", "reason", "detail"),
    [
        (
            {"onnx_sha256": "b" * 64},
            {},
            StaleReason.ONNX_CHANGED,
            "sha256 was bbbbbbbbbbbb, now aaaaaaaaaaaa",
        ),
        (
            {},
            {"tensorrt_version": "10.3.0.26"},
            StaleReason.TENSORRT_CHANGED,
            "was 10.3.0.26, now 10.16.0.72",
        ),
        (
            {},
            {"tensorrt_version": "11.1.0.106"},
            StaleReason.TENSORRT_CHANGED,
            "was 11.1.0.106, now 10.16.0.72",
        ),
        ({}, {"cuda_version": "12.9"}, StaleReason.CUDA_CHANGED, "was 12.9, now 13.0"),
        (
            {},
            {"gpu_name": "NVIDIA GeForce RTX 3090", "compute_capability": "8.6"},
            StaleReason.GPU_CHANGED,
            "was NVIDIA GeForce RTX 3090, compute 8.6, now NVIDIA H200, compute 9.0",
        ),
        (
            {},
            {"compute_capability": "8.9"},
            StaleReason.GPU_CHANGED,
            "was NVIDIA H200, compute 8.9, now NVIDIA H200, compute 9.0",
        ),
        ({"precision": Precision.FP32}, {}, StaleReason.PRECISION_CHANGED, "was fp32, now fp16"),
        (
            {"batch_profile": (1, 4, 4)},
            {},
            StaleReason.PROFILE_CHANGED,
            "was batch 1/4/4, now batch 1/8/8",
        ),
        (
            {"input_shape": (8, 640, 640, 3)},
            {},
            StaleReason.INPUT_CHANGED,
            "was frames_bgr_u8 640x640, now frames_bgr_u8 320x320",
        ),
        ({"dla_core": 0}, {}, StaleReason.DLA_CHANGED, "was DLA 0, now GPU"),
        (
            {"calibration": "0123456789abcdef"},
            {},
            StaleReason.CALIBRATION_CHANGED,
            "was 0123456789abcdef, now none",
        ),
    ],
)
def test_each_change_is_named_with_what_it_was(engine, built, device, reason, detail):
    verdict = judge(engine, WANTED, H200, manifest(WANTED.model_copy(update=built), **device))
    assert verdict.state is EngineState.STALE
    assert [(r.reason, r.detail) for r in verdict.reasons] == [(reason, detail)]
    assert verdict.describe() == f"stale: {reason.value} ({detail})"


def test_several_changes_are_all_listed_in_a_fixed_order(engine):
    built = WANTED.model_copy(update={"onnx_sha256": "c" * 64, "precision": Precision.INT8})
    verdict = judge(engine, WANTED, H200, manifest(built, tensorrt_version="10.3.0.26"))
    assert [r.reason for r in verdict.reasons] == [
        StaleReason.ONNX_CHANGED,
        StaleReason.TENSORRT_CHANGED,
        StaleReason.PRECISION_CHANGED,
    ]
    assert verdict.describe().startswith("stale: ONNX changed (sha256 was cccccccccccc")


@pytest.mark.parametrize(
    "device",
    [
        {},
        {"cuda_version": "13.1"},  # a CUDA minor update keeps engines valid
    ],
)
def test_up_to_date(engine, device):
    verdict = judge(engine, WANTED, H200, manifest(**device))
    assert verdict.up_to_date
    assert verdict.describe() == "up to date"


def test_a_larger_site_batch_is_a_profile_change_not_an_input_change(engine):
    wanted = WANTED.model_copy(
        update={"batch_profile": (1, 16, 16), "input_shape": (16, 320, 320, 3)}
    )
    verdict = judge(engine, wanted, H200, manifest())
    assert [r.reason for r in verdict.reasons] == [StaleReason.PROFILE_CHANGED]


def test_missing_engine(tmp_path):
    verdict = judge(tmp_path / "none.engine", WANTED, H200, None)
    assert (verdict.state, verdict.describe()) == (EngineState.MISSING, "missing")


def test_an_engine_without_a_readable_manifest_is_stale_not_trusted(engine):
    error = ManifestError(f"{engine}.json: no manifest beside the engine")
    verdict = judge(engine, WANTED, H200, error)
    assert verdict.state is EngineState.STALE
    assert (
        verdict.describe()
        == f"stale: no usable manifest ({engine}.json: no manifest beside the engine)"
    )


def test_a_manifest_whose_engine_file_is_gone_is_missing(tmp_path):
    assert judge(tmp_path / "gone.engine", WANTED, H200, manifest()).state is EngineState.MISSING
