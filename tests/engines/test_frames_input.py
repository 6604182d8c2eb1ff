"""The frames input put in front of the graph computes exactly what the host preprocessing
did: checked with ONNX Runtime on the demo detector and on small graphs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from engines.frames_input import FRAMES_INPUT, FramesInputError, with_frames_input
from pipeline.infer.preprocess import to_model_input
from tests.engines.sites import DEMO_MODEL
from tests.infer.onnx_models import rtdetr_original_detector


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def frames(count: int, height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(count)
    return rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def test_the_demo_detector_gives_the_same_outputs_from_uint8_frames():
    source = onnx.load(str(DEMO_MODEL))
    framed = with_frames_input(source, "images")
    onnx.checker.check_model(framed)
    batch = frames(3, 320, 320)
    reference = session(source).run(None, {"images": to_model_input(batch)})[0]
    result = session(framed).run(None, {FRAMES_INPUT: batch})[0]
    np.testing.assert_allclose(result, reference, rtol=0, atol=1e-4)
    assert {p.key: p.value for p in framed.metadata_props} == {
        p.key: p.value for p in source.metadata_props
    }


def identity_graph(element: int, dims: list) -> onnx.ModelProto:
    """images -> Identity -> out, to see the preprocessed tensor itself."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["images"], ["out"])],
        "identity",
        [helper.make_tensor_value_info("images", element, dims)],
        [helper.make_tensor_value_info("out", element, dims)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(
    ("element", "dims", "count", "dtype", "atol"),
    [
        (TensorProto.FLOAT, ["batch", 3, 24, 40], 2, np.float32, 0),
        (TensorProto.FLOAT, [4, 3, 24, 40], 4, np.float32, 0),  # a fixed batch stays fixed
        (TensorProto.FLOAT16, ["batch", 3, 24, 40], 2, np.float16, 1e-3),  # half exports
    ],
)
def test_the_tensor_is_rgb_chw_in_zero_to_one(element, dims, count, dtype, atol):
    framed = with_frames_input(identity_graph(element, dims), "images")
    (value,) = [v for v in framed.graph.input if v.name == FRAMES_INPUT]
    shape = [d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim]
    assert shape == [dims[0], 24, 40, 3]
    assert value.type.tensor_type.elem_type == TensorProto.UINT8
    batch = frames(count, 24, 40)
    result = session(framed).run(None, {FRAMES_INPUT: batch})[0]
    assert result.dtype == dtype
    np.testing.assert_allclose(result, to_model_input(batch).astype(dtype), rtol=0, atol=atol)


def test_other_inputs_are_kept(tmp_path):
    """RT-DETR (original) also takes the target sizes: they stay an input of their own."""
    path = rtdetr_original_detector(tmp_path / "detr.onnx", 64)
    framed = with_frames_input(onnx.load(str(path)), "images")
    assert [v.name for v in framed.graph.input] == [FRAMES_INPUT, "orig_target_sizes"]
    sizes = np.array([[64, 64], [64, 64]], np.int64)
    result = session(framed).run(
        ["boxes"], {FRAMES_INPUT: frames(2, 64, 64), "orig_target_sizes": sizes}
    )
    assert result[0].shape == (2, 2, 4)


@pytest.mark.parametrize(
    ("model", "image_input", "message"),
    [
        (
            identity_graph(TensorProto.FLOAT, ["b", 3, 8, 8]),
            "pixels",
            "the graph has no input 'pixels'",
        ),
        (
            identity_graph(TensorProto.UINT8, ["b", 3, 8, 8]),
            "images",
            "images is UINT8, expected FLOAT or FLOAT16",
        ),
        (
            identity_graph(TensorProto.FLOAT, ["b", 8, 8, 3]),
            "images",
            r"images is not \(B, 3, H, W\)",
        ),
        (identity_graph(TensorProto.FLOAT, ["b", 3, 8]), "images", r"images is not \(B, 3, H, W\)"),
    ],
)
def test_graphs_that_cannot_take_frames(model, image_input, message):
    with pytest.raises(FramesInputError, match=message):
        with_frames_input(model, image_input)


def test_rewriting_twice_is_refused():
    framed = with_frames_input(identity_graph(TensorProto.FLOAT, ["b", 3, 8, 8]), "images")
    with pytest.raises(FramesInputError, match="already has an input named frames_bgr_u8"):
        with_frames_input(framed, FRAMES_INPUT)
