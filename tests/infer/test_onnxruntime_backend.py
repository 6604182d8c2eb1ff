"""The ONNX Runtime backend on real sessions: uint8 batches in, outputs by name out, fixed
batches padded or chunked (never a shape the model refuses), providers never replaced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from pipeline.config.models import ModelConfig, OnnxRuntimeConfig, Provider
from pipeline.infer.backends import ModelLoadError
from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend
from pipeline.infer.model_spec import read_model_spec
from tests.infer.onnx_models import (
    ULTRALYTICS_YOLO,
    constant_detector,
    rtdetr_original_detector,
    yolo_output,
)


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
def test_fixed_and_dynamic_batches(tmp_path, fixed_batch, max_batch, count):
    output = yolo_output([(50, 60, 20, 40, 1, 0.8)], classes=3)
    image = (fixed_batch or "batch", 3, 320, 320)
    path = constant_detector(tmp_path / "m.onnx", {"output0": output}, image, ULTRALYTICS_YOLO)
    backend = backend_for(path, max_batch)
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


def test_rtdetr_original_gets_its_target_sizes(tmp_path):
    path = rtdetr_original_detector(tmp_path / "detr.onnx", 320)
    backend = backend_for(path, 4)
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
