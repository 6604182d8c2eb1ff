"""Small real ONNX models for the tests: any input geometry, any outputs, any metadata.

Each output is a constant (1, ...) array expanded to the batch of the image input, so ONNX
Runtime runs a real graph at any batch the input allows (symbolic or fixed) and the decoded
boxes are known in advance. The image's mean is added to the first output's first value
times 0, so the graph depends on the input (ONNX Runtime would otherwise fold it away).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Dim = int | str


def constant_detector(
    path: Path,
    outputs: Mapping[str, np.ndarray],
    image_shape: Sequence[Dim] = ("batch", 3, 320, 320),
    metadata: Mapping[str, str] | None = None,
    output_shapes: Mapping[str, Sequence[Dim]] | None = None,
    size_input: str | None = None,
) -> Path:
    """Write a model whose outputs are `outputs` (each (1, ...)) for every image of the batch.

    `output_shapes` overrides the shapes the graph declares (e.g. symbolic class axes as
    Ultralytics' dynamic exports have); `size_input` adds an int64 (B, 2) input such as
    RT-DETR's `orig_target_sizes`.
    """
    nodes = [
        helper.make_node("Shape", ["images"], ["image_shape"]),
        helper.make_node("Slice", ["image_shape", "zero", "one"], ["batch"]),
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "nothing"], ["no_change"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array(0.0, np.float32), "nothing"),
    ]
    graph_outputs = []
    for index, (name, value) in enumerate(outputs.items()):
        value = np.asarray(value)
        assert value.shape[0] == 1, "outputs are given for one image: shape (1, ...)"
        constant = f"{name}_value"
        initializers.append(numpy_helper.from_array(value, constant))
        initializers.append(
            numpy_helper.from_array(np.array(value.shape[1:], np.int64), f"{name}_rest")
        )
        nodes.append(
            helper.make_node("Concat", ["batch", f"{name}_rest"], [f"{name}_shape"], axis=0)
        )
        expanded = f"{name}_expanded" if index == 0 and value.dtype == np.float32 else name
        nodes.append(helper.make_node("Expand", [constant, f"{name}_shape"], [expanded]))
        if expanded != name:
            nodes.append(helper.make_node("Add", [expanded, "no_change"], [name]))
        declared = (output_shapes or {}).get(name, ["batch", *value.shape[1:]])
        element = helper.np_dtype_to_tensor_dtype(value.dtype)
        graph_outputs.append(helper.make_tensor_value_info(name, element, list(declared)))
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(image_shape))]
    if size_input is not None:
        inputs.append(helper.make_tensor_value_info(size_input, TensorProto.INT64, ["batch", 2]))
    graph = helper.make_graph(nodes, "constant_detector", inputs, graph_outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def yolo_output(
    cells: Sequence[tuple[float, float, float, float, int, float]], classes: int, anchors: int = 16
) -> np.ndarray:
    """(1, 4 + classes, anchors): each cell (cx, cy, w, h, class, score) in input pixels."""
    output = np.zeros((1, 4 + classes, anchors), np.float32)
    for index, (cx, cy, w, h, cls, score) in enumerate(cells):
        output[0, :4, index] = (cx, cy, w, h)
        output[0, 4 + cls, index] = score
    return output


NAMES = {0: "person", 1: "helmet", 2: "vest"}


def rtdetr_original_detector(path: Path, size: int) -> Path:
    """RT-DETR as its own repository exports it: labels, boxes, scores and an int64
    `orig_target_sizes` input, two queries per image, square `size` input."""
    outputs = {
        "labels": np.array([[0, 1]], np.int64),
        "boxes": np.array([[[10, 20, 50, 90], [0, 0, 5, 5]]], np.float32),
        "scores": np.array([[0.9, 0.2]], np.float32),
    }
    return constant_detector(
        path,
        outputs,
        ("batch", 3, size, size),
        {"names": str(NAMES)},
        size_input="orig_target_sizes",
    )


ULTRALYTICS_YOLO = {
    "names": str(NAMES),
    "imgsz": "[320, 320]",
    "head": "Detect",
    "end2end": "False",
}
