"""Manifests on disk: written atomically, read back equal, refused with a reason when broken."""

from __future__ import annotations

import hashlib
import json

import pytest

from engines.manifest import (
    ManifestError,
    file_sha256,
    manifest_path,
    read_manifest,
    source_tensors,
    write_manifest,
)
from engines.targets import site_targets
from tests.engines.sites import DEMO_MODEL, H200, site


@pytest.fixture
def manifest():
    target = site_targets(site([{"path": str(DEMO_MODEL), "backend": "tensorrt"}]))[0]
    return target.manifest_for(
        H200,
        file_sha256(DEMO_MODEL),
        None,
        "fp16: BuilderFlag.FP16 (TensorRT 10)",
        "2026-12-01T20:00:00+00:00",
        61.5,
    )


def test_round_trip_keeps_everything(tmp_path, manifest):
    path = tmp_path / "ppe-demo.fp16.engine.json"
    write_manifest(path, manifest)
    assert read_manifest(path) == manifest
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    raw = json.loads(path.read_text())
    assert raw["format"] == 1
    assert raw["device"] == {
        "tensorrt_version": "10.16.0.72",
        "cuda_version": "13.0",
        "gpu_name": "NVIDIA H200",
        "compute_capability": "9.0",
    }
    assert raw["settings"]["batch_profile"] == [1, 8, 8]
    assert raw["settings"]["input_shape"] == [8, 320, 320, 3]
    assert raw["classes"] == ["person", "helmet", "vest"]
    assert raw["layout"] == "yolo"


def test_the_manifest_describes_the_source_graph(manifest):
    assert [(t.name, t.dims) for t in manifest.onnx_inputs] == [("images", ("batch", 3, 320, 320))]
    assert [(t.name, t.dims) for t in manifest.onnx_outputs] == [("output0", ("batch", 7, 8500))]
    assert manifest.metadata["imgsz"] == "[320, 320]"
    assert source_tensors(DEMO_MODEL)[2] == manifest.metadata


def test_sha256_is_the_files(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * (3 << 20))  # several read blocks
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_path_beside_the_engine(tmp_path):
    engine = tmp_path / "ppe-demo.fp16.engine"
    assert manifest_path(engine) == tmp_path / "ppe-demo.fp16.engine.json"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no manifest beside the engine"),
        ("{not json", "not JSON (Expecting property name enclosed in double quotes at line 1)"),
        ("[1, 2]", "manifest format 'list', this version reads 1"),
        ('{"format": 7}', "manifest format 7, this version reads 1"),
        ('{"format": 1, "source_onnx": "m.onnx"}', "manifest key settings: Field required"),
    ],
)
def test_broken_manifests_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "m.engine.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ManifestError) as raised:
        read_manifest(path)
    assert str(raised.value) == f"{path}: {message}"


def test_a_manifest_with_a_wrong_value_names_the_key(tmp_path, manifest):
    raw = json.loads(manifest.model_dump_json())
    raw["settings"]["precision"] = "fp12"
    path = tmp_path / "m.engine.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=r"manifest key settings\.precision: Input should be"):
        read_manifest(path)
