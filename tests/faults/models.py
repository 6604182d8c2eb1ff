"""Test models and videos for the fault suite, made from the demo detector.

- `hanging_detector`: the demo detector behind an ONNX `Loop` whose trip count is ~forever
  when an image carries the marker (its top-left 8x8 pixels white) and zero otherwise: a
  real model call that never returns, as a wedged GPU driver or a pathological input does.
- `unloadable_detector`: the demo detector with a node of an operator ONNX Runtime does not
  have: the file reads fine (preflight passes), the session cannot be created.
- `marker_video`: dark frames, a few of them marked.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SPIN = 10**12  # loop iterations on a marked image: hours of ONNX Runtime's time
MARKER = 16  # pixels: the white square at the top-left corner of a marked frame


def _rewire_input(model: onnx.ModelProto, name: str) -> str:
    """Make every node that read the image input read `name` instead."""
    for node in model.graph.node:
        node.input[:] = [name if value == "images" else value for value in node.input]
    return name


def hanging_detector(source: Path, target: Path) -> Path:
    model = onnx.load(str(source))
    inner = _rewire_input(model, "images_after_loop")
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["condition_in"], ["condition_out"]),
            helper.make_node("Identity", ["carried_in"], ["carried_out"]),
        ],
        "spin",
        [
            helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
            helper.make_tensor_value_info("condition_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info(
                "carried_in", TensorProto.FLOAT, ["batch", 3, None, None]
            ),
        ],
        [
            helper.make_tensor_value_info("condition_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info(
                "carried_out", TensorProto.FLOAT, ["batch", 3, None, None]
            ),
        ],
    )
    constants = {
        "corner_starts": np.array([0, 0], np.int64),
        "corner_ends": np.array([8, 8], np.int64),
        "corner_axes": np.array([2, 3], np.int64),
        "white": np.array(0.5, np.float32),
        "spin": np.array(SPIN, np.int64),
        "no_spin": np.array(0, np.int64),
        "keep_going": np.array(True),
    }
    nodes = [
        helper.make_node(
            "Slice", ["images", "corner_starts", "corner_ends", "corner_axes"], ["corner"]
        ),
        helper.make_node("ReduceMax", ["corner"], ["corner_max"], keepdims=0),
        helper.make_node("Greater", ["corner_max", "white"], ["marked"]),
        helper.make_node("Where", ["marked", "spin", "no_spin"], ["trip_count"]),
        helper.make_node("Loop", ["trip_count", "keep_going", "images"], [inner], body=body),
    ]
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
    rest = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend([*nodes, *rest])
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return target


def unloadable_detector(source: Path, target: Path) -> Path:
    model = onnx.load(str(source))
    inner = _rewire_input(model, "images_after_unknown")
    model.graph.node.insert(
        0, helper.make_node("NoSuchOperator", ["images"], [inner], domain="ai.vigia.test")
    )
    model.opset_import.append(helper.make_opsetid("ai.vigia.test", 1))
    onnx.save(model, str(target))
    return target


def marker_video(
    path: Path, frames: int, marked: range, size: int = 320, fps: float = 10.0
) -> Path:
    """`frames` dark frames of `size` x `size` pixels (square: the letterbox leaves the
    corner where it is) at `fps` frames/s; those in `marked` carry the white corner."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for index in range(frames):
        frame = np.full((size, size, 3), 30, np.uint8)
        if index in marked:
            frame[:MARKER, :MARKER] = 255
        writer.write(frame)
    writer.release()
    return path
