"""The shipped demo detector: loads in ONNX Runtime and declares what its model card says."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "demo" / "ppe-demo.onnx"
CARD = REPO / "models" / "demo" / "README.md"
CELLS = 80 * 80 + 40 * 40 + 20 * 20 + 10 * 10  # strides 4, 8, 16 and 32 over a 320x320 input


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])


def test_file_is_small_enough_to_ship() -> None:
    assert MODEL.stat().st_size <= 4 * 1024 * 1024


def test_declared_input_and_output(session: ort.InferenceSession) -> None:
    (inputs,) = session.get_inputs()
    (output,) = session.get_outputs()
    assert inputs.name == "images"
    assert inputs.type == "tensor(float)"
    assert isinstance(inputs.shape[0], str)  # dynamic batch axis
    assert inputs.shape[1:] == [3, 320, 320]
    assert output.name == "output0"
    assert output.type == "tensor(float)"
    assert isinstance(output.shape[0], str)
    assert output.shape[1:] == [7, CELLS]


def test_metadata_in_the_ultralytics_convention(session: ort.InferenceSession) -> None:
    metadata = session.get_modelmeta().custom_metadata_map
    assert ast.literal_eval(metadata["names"]) == {0: "person", 1: "helmet", 2: "vest"}
    assert ast.literal_eval(metadata["imgsz"]) == [320, 320]
    assert metadata["task"] == "detect"
    assert metadata["stride"] == "32"
    assert "synthetic" in metadata["description"]


def test_opset_is_at_least_17() -> None:
    model = onnx.load(str(MODEL), load_external_data=False)
    default = [entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")]
    assert default and default[0] >= 17


def test_batches_of_any_size_give_the_same_per_image_output(
    session: ort.InferenceSession,
) -> None:
    images = np.random.default_rng(0).random((3, 3, 320, 320), dtype=np.float32)
    (together,) = session.run(["output0"], {"images": images})
    (alone,) = session.run(["output0"], {"images": images[1:2]})
    assert together.shape == (3, 7, CELLS)
    np.testing.assert_allclose(together[1:2], alone, atol=1e-4)
    scores = together[:, 4:]
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert together[:, 2:4].min() >= 0.0  # widths and heights


def test_runtime_backend_reads_it_like_an_ultralytics_export() -> None:
    backend = OnnxRuntimeBackend.from_path(MODEL, max_batch=8)
    spec = backend.spec
    assert spec.class_names == ("person", "helmet", "vest")
    assert (spec.input_width, spec.input_height) == (320, 320)
    assert (spec.batch, spec.max_batch) == (None, None)  # dynamic, no limit of its own
    backend.close()


@pytest.mark.parametrize(
    "statement",
    [
        "`images`",
        "`output0`",
        "(batch, 3, 320, 320)",
        "(batch, 7, 8500)",
        "float32",
        "{0: 'person', 1: 'helmet', 2: 'vest'}",
        "opset 17",
    ],
)
def test_model_card_states_the_interface(statement: str) -> None:
    assert statement in CARD.read_text(encoding="utf-8")
