"""The fixture's real Ultralytics exports: graph, metadata, and ONNX Runtime runs.

Uses the session fixture `ultralytics_exports` (conftest.py): the first test builds them.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from export.ultralytics.metadata import PREFIX, ExportLayout, Preprocessing, VigiaMetadata
from export.ultralytics.parity import parity_images
from tests.export.ultralytics.exports import BUILD_TIMEOUT_S, UltralyticsExports

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S)

IMGSZ = 160
ANCHORS = 525  # (160/8)^2 + (160/16)^2 + (160/32)^2
SYMBOLIC = str  # any symbolic dimension name
DYNAMIC_INPUT = ["batch", 3, "height", "width"]
DEMO_CLASSES = ("person", "helmet", "vest")

# (model, variant) -> (input dims, output0 dims, layout, vigia_batch, batches to run)
Case = tuple[list[Any], list[Any], str, int | None, tuple[int, ...]]
CASES: dict[tuple[str, str], Case] = {
    ("yolo11n", "dynamic"): (DYNAMIC_INPUT, ["batch", 84, "anchors"], "yolo", None, (1, 4)),
    ("yolo11n", "batch1"): ([1, 3, IMGSZ, IMGSZ], [1, 84, ANCHORS], "yolo", 1, (1,)),
    ("yolo11n", "batch4"): ([4, 3, IMGSZ, IMGSZ], [4, 84, ANCHORS], "yolo", 4, (4,)),
    ("yolo11n", "nms"): (DYNAMIC_INPUT, ["batch", 300, 6], "end2end", 4, (1, 4)),
    ("yolov8s", "dynamic"): (DYNAMIC_INPUT, ["batch", 84, "anchors"], "yolo", None, (1, 4)),
    ("yolov8s", "batch1"): ([1, 3, IMGSZ, IMGSZ], [1, 84, ANCHORS], "yolo", 1, (1,)),
    ("yolov8s", "batch4"): ([4, 3, IMGSZ, IMGSZ], [4, 84, ANCHORS], "yolo", 4, (4,)),
    ("yolov8s", "nms"): (DYNAMIC_INPUT, ["batch", 300, 6], "end2end", 4, (1, 4)),
    ("rtdetr-l", "dynamic"): (DYNAMIC_INPUT, ["batch", SYMBOLIC, 6], "rtdetr", None, (1, 4)),
    ("rtdetr-l", "batch1"): ([1, 3, IMGSZ, IMGSZ], [1, 300, 6], "rtdetr", 1, (1,)),
    ("rtdetr-l", "batch4"): ([4, 3, IMGSZ, IMGSZ], [4, 300, 6], "rtdetr", 4, (4,)),
    ("yolov8s-worldv2", "dynamic"): (DYNAMIC_INPUT, ["batch", 7, "anchors"], "yolo", None, (1, 4)),
    ("yolov8s-worldv2", "nms"): (DYNAMIC_INPUT, ["batch", 300, 6], "end2end", 4, (1, 4)),
}
HEADS = {"yolo11n": "Detect", "yolov8s": "Detect", "rtdetr-l": "RTDETRDecoder"}
HEADS["yolov8s-worldv2"] = "WorldDetect"
RUNS = [(model, variant, batch) for (model, variant), case in CASES.items() for batch in case[4]]


def dims(values) -> list:
    return [d.dim_param or d.dim_value for d in values[0].type.tensor_type.shape.dim]


def same_dims(actual: list, expected: list) -> bool:
    return len(actual) == len(expected) and all(
        isinstance(a, str) if e is SYMBOLIC else a == e
        for a, e in zip(actual, expected, strict=True)
    )


def test_every_variant_is_built(ultralytics_exports: UltralyticsExports) -> None:
    assert sorted(ultralytics_exports.variants()) == sorted(CASES)


@pytest.mark.parametrize(("model", "variant"), list(CASES))
def test_graph_inputs_and_outputs(
    ultralytics_exports: UltralyticsExports, model: str, variant: str
) -> None:
    graph = onnx.load(str(ultralytics_exports.onnx(model, variant))).graph
    input_dims, output_dims = CASES[model, variant][:2]
    assert [value.name for value in graph.input] == ["images"]
    assert [value.name for value in graph.output] == ["output0"]
    assert dims(graph.input) == input_dims
    assert same_dims(dims(graph.output), output_dims), dims(graph.output)


@pytest.mark.parametrize(("model", "variant"), list(CASES))
def test_metadata(ultralytics_exports: UltralyticsExports, model: str, variant: str) -> None:
    path = ultralytics_exports.onnx(model, variant)
    props = {entry.key: entry.value for entry in onnx.load(str(path)).metadata_props}
    _, _, layout, batch, _ = CASES[model, variant]
    world = "world" in model
    # Ultralytics' own keys, as a user's export has them.
    names = ast.literal_eval(props["names"])
    assert list(names.values()) == (list(DEMO_CLASSES) if world else [str(i) for i in range(80)])
    assert ast.literal_eval(props["imgsz"]) == [IMGSZ, IMGSZ]
    assert props["head"] == HEADS[model]
    assert props["end2end"] == "False"
    assert ast.literal_eval(props["args"])["nms"] == (variant == "nms")
    # The project's keys.
    metadata = VigiaMetadata.from_props(props)
    assert metadata.layout is ExportLayout(layout)
    expected_preprocessing = (
        Preprocessing.STRETCH if layout == "rtdetr" else Preprocessing.LETTERBOX
    )
    assert metadata.preprocessing is expected_preprocessing
    assert props["vigia_preprocessing"] == expected_preprocessing.value
    assert metadata.classes == tuple(names.values())
    assert metadata.input_size == (IMGSZ, IMGSZ)
    assert metadata.dynamic_batch == (variant in {"dynamic", "nms"})
    assert metadata.batch == batch
    assert metadata.source == f"{model}.pt"
    assert (metadata.nms is not None) == (variant == "nms")
    if metadata.nms is not None:
        assert (metadata.nms.conf, metadata.nms.iou, metadata.nms.max_det) == (0.25, 0.7, 300)
    if world:
        assert metadata.prompts == {
            "person": ("person", "worker"),
            "helmet": ("hard hat", "safety helmet"),
            "vest": ("high visibility vest", "reflective safety vest"),
        }
    else:
        assert metadata.prompts is None
    assert metadata.parity is not None
    assert metadata.parity.max_abs_diff <= metadata.parity.tolerance
    assert metadata.parity.rows_compared > 0


@pytest.mark.parametrize(("model", "variant"), list(CASES))
def test_ultralytics_copy_is_the_same_graph_without_vigia_keys(
    ultralytics_exports: UltralyticsExports, model: str, variant: str
) -> None:
    ours = onnx.load(str(ultralytics_exports.onnx(model, variant)))
    plain = onnx.load(str(ultralytics_exports.onnx(model, variant, vigia_metadata=False)))
    assert plain.graph.SerializeToString() == ours.graph.SerializeToString()
    ours_keys = {entry.key for entry in ours.metadata_props}
    plain_keys = {entry.key for entry in plain.metadata_props}
    assert plain_keys == {key for key in ours_keys if not key.startswith(PREFIX)}
    assert "names" in plain_keys and "imgsz" in plain_keys


@pytest.mark.parametrize(("model", "variant", "batch"), RUNS)
def test_runs_in_onnxruntime(
    ultralytics_exports: UltralyticsExports, model: str, variant: str, batch: int
) -> None:
    path = ultralytics_exports.onnx(model, variant)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"images": parity_images(batch, (IMGSZ, IMGSZ), seed=7)})
    layout = CASES[model, variant][2]
    classes = 3 if "world" in model else 80
    assert np.isfinite(output).all()
    if layout == "yolo":
        assert output.shape == (batch, 4 + classes, ANCHORS)
        scores = output[:, 4:]
        assert 0.0 <= scores.min() and scores.max() <= 1.0
        assert scores.max() > 0.25  # woken weights: the box path has candidates
        assert (output[:, 2:4] >= 0).all()  # widths and heights
    elif layout == "end2end":
        assert output.shape == (batch, 300, 6)
        for image in output:
            kept = image[image[:, 4] > 0]
            assert len(kept) > 0
            assert (kept[:, 4] > 0.25).all() and (kept[:, 4] <= 1).all()
            assert np.array_equal(kept[:, 5], kept[:, 5].round())
            assert ((0 <= kept[:, 5]) & (kept[:, 5] < classes)).all()
            assert (kept[:, 0] <= kept[:, 2]).all() and (kept[:, 1] <= kept[:, 3]).all()
            assert not image[len(kept) :].any()  # zero padding after the detections
    else:
        assert output.shape == (batch, 300, 6)
        assert ((0 <= output[..., :4]) & (output[..., :4] <= 1)).all()  # normalised cxcywh
        assert ((0 < output[..., 4]) & (output[..., 4] < 1)).all()
        assert (np.diff(output[..., 4], axis=1) <= 0).all()  # top-k, best first
        assert ((0 <= output[..., 5]) & (output[..., 5] < classes)).all()


@pytest.mark.parametrize(
    ("model", "variant", "wrong"), [("yolo11n", "batch1", 2), ("rtdetr-l", "batch4", 2)]
)
def test_fixed_batch_refuses_another_batch(
    ultralytics_exports: UltralyticsExports, model: str, variant: str, wrong: int
) -> None:
    """A fixed-batch file runs only at its batch: a partial batch must be padded up to it."""
    session = ort.InferenceSession(
        str(ultralytics_exports.onnx(model, variant)), providers=["CPUExecutionProvider"]
    )
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument, match="images"):
        session.run(None, {"images": parity_images(wrong, (IMGSZ, IMGSZ))})


def test_dynamic_nms_loses_images_past_its_batch(ultralytics_exports: UltralyticsExports) -> None:
    """`nms=True` with a dynamic batch unrolls its per-image loop vigia_batch (4) times: a 5th
    image comes back with no detections at all, which is why the metadata states the limit."""
    path = ultralytics_exports.onnx("yolo11n", "nms")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = parity_images(5, (IMGSZ, IMGSZ), seed=7)
    images[4] = images[0]
    (output,) = session.run(None, {"images": images})
    assert output.shape == (5, 300, 6)
    assert (output[0, :, 4] > 0).sum() > 0
    assert not output[4].any()
