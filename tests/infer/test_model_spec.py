"""The one model-spec reader: sizes, batch, class names and layout from real ONNX files,
with what the site file adds, and refusals that say what to write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config.models import ModelConfig
from pipeline.infer.backends import ModelLoadError
from pipeline.infer.layouts import Layout, Preprocessing
from pipeline.infer.model_spec import read_model_spec
from tests.infer.onnx_models import NAMES, ULTRALYTICS_YOLO, constant_detector, yolo_output

REPO = Path(__file__).resolve().parents[2]
DYNAMIC = ("batch", 3, "height", "width")
SYMBOLIC_OUTPUT = {"output0": ["batch", "Concatoutput0_dim_1", "anchors"]}


def yolo_file(tmp_path: Path, image=DYNAMIC, metadata=ULTRALYTICS_YOLO) -> Path:
    """Symbolic output dims as Ultralytics' dynamic exports declare them, where the metadata
    says which head made them (without it, only fixed dims can tell the layout)."""
    output = yolo_output([(50, 60, 20, 40, 0, 0.9)], classes=3)
    shapes = SYMBOLIC_OUTPUT if "head" in metadata else None
    return constant_detector(tmp_path / "m.onnx", {"output0": output}, image, metadata, shapes)


def test_the_demo_model():
    spec = read_model_spec(ModelConfig(path=REPO / "models" / "demo" / "ppe-demo.onnx"))
    assert (spec.input_width, spec.input_height, spec.batch) == (320, 320, None)
    assert spec.class_names == ("person", "helmet", "vest")
    assert (spec.layout.layout, spec.layout.preprocessing) == (Layout.YOLO, Preprocessing.LETTERBOX)


@pytest.mark.parametrize(
    ("image", "metadata", "config", "expected"),
    [
        # Ultralytics dynamic=True: the size comes from imgsz ([h, w]).
        (DYNAMIC, ULTRALYTICS_YOLO, {}, (320, 320, None)),
        (DYNAMIC, {**ULTRALYTICS_YOLO, "imgsz": "[384, 640]"}, {}, (640, 384, None)),
        # The site file's input_size wins over imgsz for an open input.
        (DYNAMIC, ULTRALYTICS_YOLO, {"input_size": [416, 256]}, (416, 256, None)),
        # A fixed batch of 4 is read as such (partial batches are padded up to it).
        ((4, 3, 320, 320), ULTRALYTICS_YOLO, {}, (320, 320, 4)),
        ((1, 3, 256, 320), {"names": str(NAMES)}, {}, (320, 256, 1)),
    ],
)
def test_input_size_and_batch(tmp_path, image, metadata, config, expected):
    spec = read_model_spec(ModelConfig(path=yolo_file(tmp_path, image, metadata), **config))
    assert (spec.input_width, spec.input_height, spec.batch) == expected
    assert spec.class_names == ("person", "helmet", "vest")


def test_names_from_the_site_file_for_a_file_without_them(tmp_path):
    path = yolo_file(tmp_path, (1, 3, 320, 320), {})
    spec = read_model_spec(ModelConfig(path=path, class_names=("worker", "hat", "vest")))
    assert spec.class_names == ("worker", "hat", "vest")


@pytest.mark.parametrize(
    ("image", "metadata", "config", "message"),
    [
        (
            (1, 3, 320, 320),
            {},
            {},
            "and no class names: without them the class axis cannot be told (add names to the "
            "model's metadata or to the site file)",
        ),
        (
            (1, 3, 320, 320),
            {},
            {"class_names": ("person", "helmet")},
            "output0 ['batch', 7, 16] fits no layout for 2 class names",
        ),
        (
            DYNAMIC,
            {"names": str(NAMES)},
            {},
            "the input's size is open (['batch', 3, 'height', 'width']) and the file's metadata "
            "has no imgsz; set the model's `input_size: [width, height]`",
        ),
        (
            (1, 3, 320, 320),
            ULTRALYTICS_YOLO,
            {"input_size": (640, 640)},
            "the model's input is fixed at 320x320; the site file's input_size 640x640 cannot",
        ),
        (
            DYNAMIC,
            ULTRALYTICS_YOLO,
            {"classes": ("person", "goggles")},
            "`classes:` names goggles, which the model does not have (it has person, helmet, vest)",
        ),
    ],
)
def test_refusals_say_what_to_write(tmp_path, image, metadata, config, message):
    path = yolo_file(tmp_path, image, metadata)
    with pytest.raises(ModelLoadError) as caught:
        read_model_spec(ModelConfig(path=path, **config))
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_rtdetr_six_columns_without_names_is_refused_not_decoded_as_numbers(tmp_path):
    """An RT-DETR (B, 300, 6) export was once read as 296 classes, or, without names, decoded
    as `class99` with scores of 704."""
    output = np.zeros((1, 300, 6), np.float32)
    path = constant_detector(
        tmp_path / "rtdetr.onnx",
        {"output0": output},
        (1, 3, 640, 640),
        {"head": "RTDETRDecoder", "version": "8.4.190"},
    )
    with pytest.raises(ModelLoadError, match="list them in the model's `class_names:`"):
        read_model_spec(ModelConfig(path=path))
    spec = read_model_spec(ModelConfig(path=path, class_names=("person",)))
    assert (spec.layout.layout, spec.layout.preprocessing) == (Layout.RTDETR, Preprocessing.STRETCH)


def test_unknown_layout_names_the_file_its_outputs_and_the_layouts(tmp_path):
    path = constant_detector(
        tmp_path / "odd.onnx", {"features": np.zeros((1, 7), np.float32)}, (1, 3, 320, 320)
    )
    with pytest.raises(ModelLoadError) as caught:
        read_model_spec(ModelConfig(path=path, class_names=("person",)))
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "features ['batch', 7]" in message
    assert all(layout.value in message for layout in Layout)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="model file not found"):
        read_model_spec(ModelConfig(path=tmp_path / "absent.onnx"))
    with pytest.raises(ModelLoadError, match="is a directory, not a model file"):
        read_model_spec(ModelConfig(path=tmp_path))
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="not a readable ONNX model"):
        read_model_spec(ModelConfig(path=tmp_path / "bad.onnx"))
