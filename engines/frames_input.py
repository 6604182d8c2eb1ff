"""The preprocessing moved into the engine: a uint8 (B, H, W, 3) BGR input in front of the graph.

The rings hold letterboxed uint8 BGR frames. Rather than normalising them on the host (four
times the bytes over the bus) or in a separate CUDA kernel, the ONNX graph is given a new
first input and the few nodes that do what `pipeline.infer.preprocess.to_model_input` does:

    frames (B, H, W, 3) uint8 -> Cast(float) -> Gather(axis 3, [2, 1, 0]) (BGR -> RGB)
        -> Transpose(0, 3, 1, 2) -> Mul(1/255) -> the model's image input

TensorRT fuses them with the first convolution, so normalisation costs nothing on the GPU,
and the same rewritten graph runs in ONNX Runtime on any machine: the parity of the rewrite
is tested without a GPU. TensorRT takes UINT8 only as a network input or output, cast before
any other layer (onnx/onnx-tensorrt docs/operators.md, TensorRT 9.2 and 10.x editions): the
Cast comes first for that reason.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FRAMES_INPUT = "frames_bgr_u8"


class FramesInputError(ValueError):
    """The graph cannot take the frames input (its image input is not (B, 3, H, W) float)."""


def with_frames_input(model: onnx.ModelProto, image_input: str) -> onnx.ModelProto:
    """A copy of `model` whose image input `image_input` (B, 3, H, W) float32/float16 is fed
    from a new input FRAMES_INPUT (B, H, W, 3) uint8 BGR; every other input, the outputs
    and the metadata are kept."""
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    graph = rewritten.graph
    inputs = {value.name: value for value in graph.input}
    if FRAMES_INPUT in inputs:
        raise FramesInputError(f"the graph already has an input named {FRAMES_INPUT}")
    if image_input not in inputs:
        raise FramesInputError(f"the graph has no input {image_input!r}")
    image = inputs[image_input]
    tensor_type = image.type.tensor_type
    element = tensor_type.elem_type
    if element not in (TensorProto.FLOAT, TensorProto.FLOAT16):
        name = TensorProto.DataType.Name(element)
        raise FramesInputError(f"image input {image_input} is {name}, expected FLOAT or FLOAT16")
    dims = list(tensor_type.shape.dim)
    if len(dims) != 4 or not dims[1].HasField("dim_value") or dims[1].dim_value != 3:
        raise FramesInputError(f"image input {image_input} is not (B, 3, H, W)")

    def axis(dim: onnx.TensorShapeProto.Dimension) -> int | str:
        return dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "batch")

    frames = helper.make_tensor_value_info(
        FRAMES_INPUT, TensorProto.UINT8, [axis(dims[0]), axis(dims[2]), axis(dims[3]), 3]
    )
    scale_dtype = np.float16 if element == TensorProto.FLOAT16 else np.float32
    prefix = "vigia_frames_"
    nodes = [
        helper.make_node("Cast", [FRAMES_INPUT], [prefix + "float"], to=element),
        helper.make_node(
            "Gather", [prefix + "float", prefix + "rgb_order"], [prefix + "rgb"], axis=3
        ),
        helper.make_node("Transpose", [prefix + "rgb"], [prefix + "chw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", [prefix + "chw", prefix + "scale"], [image_input]),
    ]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([2, 1, 0], np.int64), prefix + "rgb_order"),
            numpy_helper.from_array(np.array(1.0 / 255.0, scale_dtype), prefix + "scale"),
        ]
    )
    position = [value.name for value in graph.input].index(image_input)
    del graph.input[position]
    graph.input.insert(position, frames)
    # Prepended: a topologically sorted graph stays sorted (the ONNX checker requires it).
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)
    return rewritten
