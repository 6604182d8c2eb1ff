"""The ONNX Runtime backend on real sessions: uint8 batches in, outputs by name out, fixed
batches padded or chunked (never a shape the model refuses), providers never replaced; the
uint8 input through IO binding (what GPU providers use) run here on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from pipeline.config.backends import OnnxRuntimeConfig, Provider
from pipeline.config.models import ModelConfig
from pipeline.infer.backends import ModelLoadError
from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend, intra_op_threads
from pipeline.infer.model_spec import read_model_spec
from tests.infer.onnx_models import (
    ULTRALYTICS_YOLO,
    constant_detector,
    rtdetr_original_detector,
    yolo_output,
)

DEMO_MODEL = Path(__file__).resolve().parents[2] / "models" / "demo" / "ppe-demo.onnx"


def backend_for(path: Path, max_batch: int, **settings) -> OnnxRuntimeBackend:
    model = ModelConfig(path=path)
    return OnnxRuntimeBackend(
        model, read_model_spec(model), OnnxRuntimeConfig(**settings), max_batch
    )


def images(count: int, size: int = 320) -> np.ndarray:
    return np.random.default_rng(count).integers(0, 255, (count, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("fixed_batch", "max_batch", "count"),
    [
        (4, 8, 2),  # a partial batch padded up to the model's 4 (was a crash loop)
        (4, 2, 2),  # the site's batches are smaller than the model's
        (4, 8, 7),  # two runs of 4, the second padded
        (1, 8, 5),  # a batch-1 export runs five times
        (None, 8, 8),  # dynamic: one run of 8
        (None, 8, 1),
    ],
)
@pytest.mark.parametrize("uint8_input", [False, True])
def test_fixed_and_dynamic_batches(tmp_path, fixed_batch, max_batch, count, uint8_input):
    output = yolo_output([(50, 60, 20, 40, 1, 0.8)], classes=3)
    image = (fixed_batch or "batch", 3, 320, 320)
    path = constant_detector(tmp_path / "m.onnx", {"output0": output}, image, ULTRALYTICS_YOLO)
    backend = backend_for(path, max_batch, uint8_input=uint8_input)
    assert backend.uint8_input is uint8_input
    result = backend.infer(images(count))
    assert set(result) == {"output0"}
    assert result["output0"].shape == (count, 7, 16)
    np.testing.assert_array_equal(result["output0"], np.repeat(output, count, axis=0))
    with pytest.raises(ValueError, match=rf"this model takes 1\.\.{max_batch}"):
        backend.infer(images(max_batch + 1))
    backend.close()


def test_a_dynamic_nms_export_runs_in_chunks_of_its_batch(tmp_path):
    """An Ultralytics `nms=True` export with a dynamic batch is built for at most its
    `batch`: a fifth image through a batch-4 file comes back empty, without an error."""
    rows = np.zeros((1, 300, 6), np.float32)
    rows[0, 0] = (10, 10, 50, 60, 0.9, 0)
    metadata = {**ULTRALYTICS_YOLO, "batch": "4", "args": "{'batch': 4, 'nms': True}"}
    path = constant_detector(tmp_path / "nms.onnx", {"output0": rows}, metadata=metadata)
    backend = backend_for(path, 8)
    assert (backend.spec.batch, backend.spec.max_batch) == (None, 4)
    result = backend.infer(images(6))
    assert result["output0"].shape == (6, 300, 6)


@pytest.mark.parametrize("uint8_input", [False, True])
def test_rtdetr_original_gets_its_target_sizes(tmp_path, uint8_input):
    path = rtdetr_original_detector(tmp_path / "detr.onnx", 320)
    backend = backend_for(path, 4, uint8_input=uint8_input)
    assert backend.spec.layout.size_input == "orig_target_sizes"
    result = backend.infer(images(3))
    assert result["boxes"].shape == (3, 2, 4) and result["labels"].shape == (3, 2)


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="needs a CPU-only ORT"
)
def test_a_provider_that_is_not_there_is_refused_not_replaced(tmp_path):
    output = yolo_output([], classes=3)
    path = constant_detector(tmp_path / "m.onnx", {"output0": output}, metadata=ULTRALYTICS_YOLO)
    with pytest.raises(ModelLoadError) as caught:
        backend_for(path, 4, providers=(Provider.CUDA, Provider.CPU))
    message = str(caught.value)
    assert "onnxruntime.providers asks for cuda, which this ONNX Runtime" in message
    assert "install onnxruntime-gpu" in message


def test_a_file_changed_after_the_site_started_is_refused(tmp_path):
    output = yolo_output([], classes=3)
    path = constant_detector(tmp_path / "m.onnx", {"output0": output}, metadata=ULTRALYTICS_YOLO)
    model = ModelConfig(path=path)
    before = read_model_spec(model)
    constant_detector(
        path,
        {"output0": output},
        ("batch", 3, 640, 640),
        {**ULTRALYTICS_YOLO, "imgsz": "[640, 640]"},
    )
    with pytest.raises(ModelLoadError, match="the file changed since the site started"):
        OnnxRuntimeBackend(model, before, OnnxRuntimeConfig(), 4)


def test_uint8_frames_normalised_in_the_graph_give_what_numpy_gives():
    """The IO-binding path of GPU providers, on the CPU: the same detector outputs as the
    float32 input normalised by numpy, for a full batch and a partial one."""
    on_host = backend_for(DEMO_MODEL, 4)
    in_graph = backend_for(DEMO_MODEL, 4, uint8_input=True)
    assert not on_host.uint8_input and in_graph.uint8_input
    assert in_graph.spec == on_host.spec
    for count in (4, 3):
        batch = images(count)
        expected, got = on_host.infer(batch), in_graph.infer(batch)
        assert set(got) == set(expected)
        for name, value in expected.items():
            assert got[name].shape == value.shape
            np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-3)
    on_host.close()
    in_graph.close()


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 1), (4, 3), (16, 15)])
def test_threads_0_leaves_one_cpu_to_the_cameras(monkeypatch, cpus, expected):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert intra_op_threads(0) == expected
    assert intra_op_threads(3) == 3  # a number the site sets is taken as it is
