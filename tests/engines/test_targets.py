"""Which engines a site needs, their names and batch profiles, and the verdict on real files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from engines.checking import fix_command, target_verdict
from engines.manifest import file_sha256, write_manifest
from engines.staleness import EngineState, StaleReason
from engines.targets import TargetError, batch_profile, site_targets
from pipeline.config.backends import Precision
from pipeline.infer.model_spec import read_model_spec
from tests.engines.sites import DEMO_MODEL, H200, site
from tests.infer.onnx_models import ULTRALYTICS_YOLO, constant_detector, yolo_output


def test_one_engine_per_onnx_file_for_tensorrt_and_auto_models(tmp_path):
    other = tmp_path / "other.onnx"
    shutil.copy(DEMO_MODEL, other)
    config = site(
        [
            {
                "name": "person",
                "path": str(DEMO_MODEL),
                "backend": "tensorrt",
                "classes": ["person"],
            },
            {"name": "ppe", "path": str(DEMO_MODEL), "backend": "tensorrt", "classes": ["helmet"]},
            {"name": "cpu", "path": str(other), "backend": "onnxruntime"},
            {"name": "auto", "path": str(other), "backend": "auto"},
        ],
        tensorrt={"engine_dir": str(tmp_path / "engines"), "precision": "fp32"},
    )
    targets = site_targets(config)
    assert [(t.models, t.engine.name) for t in targets] == [
        (("person", "ppe"), "ppe-demo.fp32.engine"),
        (("auto",), "other.fp32.engine"),
    ]
    assert targets[0].manifest == tmp_path / "engines" / "ppe-demo.fp32.engine.json"
    assert site_targets(site([{"path": str(DEMO_MODEL)}])) == []


def test_two_files_of_one_name_would_share_an_engine(tmp_path):
    (tmp_path / "a").mkdir()
    copy = tmp_path / "a" / DEMO_MODEL.name
    shutil.copy(DEMO_MODEL, copy)
    config = site(
        [
            {"name": "one", "path": str(DEMO_MODEL), "backend": "tensorrt"},
            {"name": "two", "path": str(copy), "backend": "tensorrt"},
        ]
    )
    with pytest.raises(TargetError, match=r"would both build .*ppe-demo\.fp16\.engine: rename one"):
        site_targets(config)


@pytest.mark.parametrize(
    ("image", "metadata", "batch", "max_batch", "profile"),
    [
        (("batch", 3, 320, 320), {}, {}, 8, (1, 8, 8)),
        (("batch", 3, 320, 320), {}, {"max": 32}, 8, (1, 32, 32)),
        (("batch", 3, 320, 320), {}, {"min": 2, "opt": 8, "max": 32}, 8, (2, 8, 32)),
        ((4, 3, 320, 320), {}, {}, 8, (4, 4, 4)),  # a fixed batch fixes the profile
        ((4, 3, 320, 320), {}, {"max": 4}, 8, (4, 4, 4)),
        (("batch", 3, 320, 320), {"vigia_batch": "4"}, {}, 8, (1, 4, 4)),  # at most 4 per call
    ],
)
def test_batch_profiles(tmp_path, image, metadata, batch, max_batch, profile):
    output = yolo_output([(50, 60, 20, 40, 1, 0.8)], classes=3)
    path = constant_detector(
        tmp_path / "m.onnx", {"output0": output}, image, {**ULTRALYTICS_YOLO, **metadata}
    )
    config = site([{"path": str(path), "backend": "tensorrt"}], {"batch": batch}, max_batch)
    spec = read_model_spec(config.detectors[0])
    assert batch_profile(config.tensorrt, spec, max_batch) == profile


@pytest.mark.parametrize(
    ("image", "metadata", "batch", "message"),
    [
        (
            (4, 3, 320, 320),
            {},
            {"max": 8},
            r"batch is fixed at 4; remove tensorrt.batch \(max: 8\)",
        ),
        (("batch", 3, 320, 320), {}, {"min": 16}, r"min 16 <= opt 8 <= max 8 does not hold"),
        (("batch", 3, 320, 320), {"vigia_batch": "4"}, {"max": 8}, r"takes at most 4 images"),
    ],
)
def test_profiles_that_cannot_be(tmp_path, image, metadata, batch, message):
    output = yolo_output([(50, 60, 20, 40, 1, 0.8)], classes=3)
    path = constant_detector(
        tmp_path / "m.onnx", {"output0": output}, image, {**ULTRALYTICS_YOLO, **metadata}
    )
    config = site([{"path": str(path), "backend": "tensorrt"}], {"batch": batch})
    with pytest.raises(TargetError, match=message):
        site_targets(config)


def test_the_batch_profile_must_be_ordered_in_the_site_file():
    with pytest.raises(ValueError, match=r"min <= opt <= max \(got 1/16/8\)"):
        site([{"path": str(DEMO_MODEL)}], {"batch": {"opt": 16, "max": 8}})


def test_int8_without_a_folder_captures_from_the_cameras():
    """No folder named: the frames come from the site's cameras (test_calibration_capture.py)."""
    settings = site([{"path": str(DEMO_MODEL)}], {"precision": "int8"}).tensorrt
    assert settings.calibration_frames is None
    assert (settings.calibration_capture.per_camera, settings.calibration_capture.spread_s) == (
        32,
        4.0,
    )
    with pytest.raises(ValueError, match="greater than or equal to 8"):
        site([{"path": str(DEMO_MODEL)}], {"calibration_capture": {"per_camera": 2}})


def test_verdicts_on_real_files(tmp_path):
    """Missing, then up to date once an engine and its manifest are there, then stale when
    the ONNX changes or the site moves to another GPU or precision."""
    model = tmp_path / "ppe-demo.onnx"
    shutil.copy(DEMO_MODEL, model)
    engines = tmp_path / "engines"
    config = site([{"path": str(model), "backend": "tensorrt"}], {"engine_dir": str(engines)})
    (target,) = site_targets(config)
    assert target_verdict(target, H200).state is EngineState.MISSING

    engines.mkdir()
    target.engine.write_bytes(b"serialized engine stand-in")
    route = "fp16: BuilderFlag.FP16 (TensorRT 10)"
    built = target.manifest_for(H200, file_sha256(model), None, route, "2026-12-01T20:00:00Z", 1)
    write_manifest(target.manifest, built)
    assert target_verdict(target, H200).up_to_date

    other_gpu = H200.model_copy(update={"gpu_name": "Orin", "compute_capability": "8.7"})
    assert [r.reason for r in target_verdict(target, other_gpu).reasons] == [
        StaleReason.GPU_CHANGED
    ]

    fp32 = site(
        [{"path": str(model), "backend": "tensorrt"}],
        {"engine_dir": str(engines), "precision": "fp32"},
    )
    assert site_targets(fp32)[0].engine.name == "ppe-demo.fp32.engine"  # its own file
    assert target_verdict(site_targets(fp32)[0], H200).state is EngineState.MISSING

    data = bytearray(model.read_bytes())
    data[-1] ^= 1  # one bit of the last initializer
    model.write_bytes(bytes(data))
    reasons = target_verdict(target, H200).reasons
    assert [r.reason for r in reasons] == [StaleReason.ONNX_CHANGED]
    assert target.settings.precision is Precision.FP16


def test_int8_verdicts_follow_the_calibration_frames(tmp_path):
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(7)
    for index in range(10):
        cv2.imwrite(str(frames / f"{index:03d}.png"), rng.integers(0, 255, (48, 64, 3), np.uint8))
    engines = tmp_path / "engines"
    settings = {"engine_dir": str(engines), "precision": "int8", "calibration_frames": str(frames)}
    (target,) = site_targets(site([{"path": str(DEMO_MODEL), "backend": "tensorrt"}], settings))
    engines.mkdir()
    target.engine.write_bytes(b"serialized engine stand-in")
    from engines.checking import calibration_identity

    identity = calibration_identity(target)
    assert identity is not None and len(identity) == 16
    route = "int8: Q/DQ ONNX from ModelOpt, FP16 elsewhere"
    manifest = target.manifest_for(H200, file_sha256(DEMO_MODEL), identity, route, "t", 1)
    write_manifest(target.manifest, manifest)
    assert target_verdict(target, H200).up_to_date
    cv2.imwrite(str(frames / "005.png"), np.zeros((48, 64, 3), np.uint8))
    assert [r.reason for r in target_verdict(target, H200).reasons] == [
        StaleReason.CALIBRATION_CHANGED
    ]


def test_the_fix_names_the_site_file():
    assert fix_command("configs/site.yaml") == (
        "make engines SITE=configs/site.yaml (python -m engines.build configs/site.yaml)"
    )
