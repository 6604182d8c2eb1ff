"""ONNX operators in PyTorch, with ONNX's semantics (opset 13 and later), for onnx_torch.py.

Each takes (context, node, inputs) and returns a tensor or a tuple for multi-output nodes.
Values that ONNX passes as tensors but that only shape a result (Reshape's shape, Slice's
starts, TopK's k...) are read with `ints()` from the small CPU tensors the shape arithmetic
keeps. Every operator here is checked against ONNX Runtime by tests/infer/test_torch_backend.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from onnx import TensorProto

from pipeline.infer.backends.onnx_torch import Node, Operator, RunContext, to_torch

OPERATORS: dict[str, Operator] = {}


def op(*names: str) -> Callable[[Operator], Operator]:
    def register(function: Operator) -> Operator:
        for name in names:
            OPERATORS[name] = function
        return function

    return register


def ints(tensor: torch.Tensor | None) -> list[int]:
    return [] if tensor is None else [int(v) for v in tensor.reshape(-1).tolist()]


def axes_of(node: Node, inputs: list[Any], position: int, rank: int) -> list[int] | None:
    """Axes from the attribute (older opsets) or the input at `position` (newer), normalised."""
    raw = node.attrs.get("axes")
    if raw is None and len(inputs) > position and inputs[position] is not None:
        raw = ints(inputs[position])
    if raw is None:
        return None
    return sorted(int(a) % rank for a in raw)


TORCH_TYPES = {
    TensorProto.BOOL: torch.bool,
    TensorProto.UINT8: torch.uint8,
    TensorProto.INT8: torch.int8,
    TensorProto.INT16: torch.int16,
    TensorProto.INT32: torch.int32,
    TensorProto.INT64: torch.int64,
}
FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16)


def elementwise(function: Callable[..., torch.Tensor]) -> Operator:
    def run(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
        return function(*context.same_place(*inputs))

    return run


def _divide(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.is_floating_point() or b.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")  # ONNX integer division truncates


_BINARY: dict[str, Callable[..., torch.Tensor]] = {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Div": _divide,
    "Pow": torch.pow,
    "Equal": torch.eq,
    "Greater": torch.gt,
    "Less": torch.lt,
    "GreaterOrEqual": torch.ge,
    "LessOrEqual": torch.le,
    "And": torch.logical_and,
    "Or": torch.logical_or,
    "Xor": torch.logical_xor,
    "Where": torch.where,
    "MatMul": torch.matmul,
    "PRelu": lambda x, slope: torch.where(x >= 0, x, x * slope),
}
_UNARY: dict[str, Callable[..., torch.Tensor]] = {
    "Sigmoid": torch.sigmoid,
    "Relu": torch.relu,
    "Tanh": torch.tanh,
    "Exp": torch.exp,
    "Log": torch.log,
    "Sqrt": torch.sqrt,
    "Neg": torch.neg,
    "Abs": torch.abs,
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "Round": torch.round,  # half to even, as ONNX
    "Sin": torch.sin,
    "Cos": torch.cos,
    "Erf": torch.erf,
    "Not": torch.logical_not,
    "Sign": torch.sign,
    "Reciprocal": torch.reciprocal,
    "Softplus": F.softplus,
    "HardSwish": F.hardswish,
    "Identity": lambda x: x,
    "Dropout": lambda x: x,  # inference
}
for _name, _function in {**_BINARY, **_UNARY}.items():
    OPERATORS[_name] = elementwise(_function)


@op("Max", "Min", "Sum", "Mean")
def _variadic(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    tensors = context.same_place(*inputs)
    combine = {"Max": torch.maximum, "Min": torch.minimum}.get(node.op, torch.add)
    result = tensors[0]
    for tensor in tensors[1:]:
        result = combine(result, tensor)
    return result / len(tensors) if node.op == "Mean" else result


@op("Mod")
def _mod(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    a, b = context.same_place(*inputs)
    return torch.fmod(a, b) if node.attrs.get("fmod", 0) else torch.remainder(a, b)


@op("LeakyRelu")
def _leaky_relu(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    return F.leaky_relu(inputs[0], node.attrs.get("alpha", 0.01))


@op("HardSigmoid")
def _hard_sigmoid(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    alpha, beta = node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
    return torch.clamp(inputs[0] * alpha + beta, 0, 1)


@op("Clip")
def _clip(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    x = inputs[0]
    low = inputs[1] if len(inputs) > 1 else None
    high = inputs[2] if len(inputs) > 2 else None
    low = low.item() if low is not None else None
    high = high.item() if high is not None else None
    return torch.clamp(x, low, high)


@op("Constant")
def _constant(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    import numpy as np

    attrs = node.attrs
    if "value" in attrs:
        return to_torch(attrs["value"], context)
    for key, dtype in (
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in attrs:
            return to_torch(np.array(attrs[key], dtype), context)
    raise ValueError(f"Constant with {', '.join(attrs)} is not supported")


@op("Cast")
def _cast(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    to = node.attrs["to"]
    if to in FLOAT_TYPES:
        return context.floating(inputs[0])
    if to not in TORCH_TYPES:
        raise ValueError(f"Cast to {TensorProto.DataType.Name(to)} is not supported")
    return inputs[0].to(TORCH_TYPES[to])


@op("Shape")
def _shape(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    dims = list(inputs[0].shape)
    start, end = node.attrs.get("start", 0), node.attrs.get("end", len(dims))
    return torch.tensor(dims[slice(start, end)], dtype=torch.int64)


@op("Size")
def _size(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    return torch.tensor(inputs[0].numel(), dtype=torch.int64)


@op("ConstantOfShape")
def _constant_of_shape(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    import numpy as np

    value = node.attrs.get("value", np.zeros(1, np.float32))
    filler = to_torch(value, context).reshape(-1)[0]
    return torch.full(ints(inputs[0]), filler.item(), dtype=filler.dtype, device=filler.device)


@op("Range")
def _range(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    start, limit, delta = inputs
    dtype, device = start.dtype, start.device
    return torch.arange(start.item(), limit.item(), delta.item(), dtype=dtype, device=device)


@op("Reshape")
def _reshape(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    data, shape = inputs[0], ints(inputs[1])
    if not node.attrs.get("allowzero", 0):
        shape = [data.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return data.reshape(shape)


@op("Flatten")
def _flatten(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    data = inputs[0]
    axis = node.attrs.get("axis", 1) % max(data.dim(), 1) if data.dim() else 0
    return data.reshape(math.prod(data.shape[:axis]), -1)


@op("Transpose")
def _transpose(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    perm = node.attrs.get("perm") or list(reversed(range(inputs[0].dim())))
    return inputs[0].permute(*perm)


@op("Unsqueeze")
def _unsqueeze(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    data = inputs[0]
    raw = node.attrs.get("axes") or ints(inputs[1])
    rank = data.dim() + len(raw)
    for axis in sorted(int(a) % rank for a in raw):
        data = data.unsqueeze(axis)
    return data


@op("Squeeze")
def _squeeze(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    data = inputs[0]
    axes = axes_of(node, inputs, 1, data.dim())
    if axes is None:
        return data.squeeze()
    for axis in reversed(axes):
        data = data.squeeze(axis)
    return data


@op("Concat")
def _concat(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    tensors = context.same_place(*[t for t in inputs if t is not None])
    return torch.cat(tensors, dim=node.attrs["axis"])


@op("Split")
def _split(context: RunContext, node: Node, inputs: list[Any]) -> tuple[torch.Tensor, ...]:
    data, axis = inputs[0], node.attrs.get("axis", 0)
    sizes = node.attrs.get("split") or (ints(inputs[1]) if len(inputs) > 1 else None)
    if not sizes:
        parts = node.attrs.get("num_outputs", len(node.outputs))
        chunk = -(-data.shape[axis] // parts)  # ceil: the last part may be smaller
        sizes = [min(chunk, data.shape[axis] - i * chunk) for i in range(parts)]
    return tuple(torch.split(data, list(sizes), dim=axis))


@op("Slice")
def _slice(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    data = inputs[0]
    starts, ends = ints(inputs[1]), ints(inputs[2])
    axes = (
        ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else list(range(len(starts)))
    )
    steps = ints(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis %= data.dim()
        # Python's slice clamps as ONNX does, negative steps included.
        bounds = slice(start, end, step).indices(data.shape[axis])
        if step > 0:
            data = data[(slice(None),) * axis + (slice(*bounds),)]
        else:  # torch has no negative strides
            index = torch.arange(*bounds, dtype=torch.int64, device=data.device)
            data = data.index_select(axis, index)
    return data


def _indices(indices: torch.Tensor, size: int, device: torch.device) -> torch.Tensor:
    indices = indices.to(device=device, dtype=torch.int64)
    return torch.where(indices < 0, indices + size, indices)


@op("Gather")
def _gather(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    data, indices = inputs
    axis = node.attrs.get("axis", 0) % data.dim()
    index = _indices(indices, data.shape[axis], data.device)
    picked = data.index_select(axis, index.reshape(-1))
    return picked.reshape((*data.shape[:axis], *index.shape, *data.shape[axis + 1 :]))


@op("GatherElements")
def _gather_elements(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    data, indices = inputs
    axis = node.attrs.get("axis", 0) % data.dim()
    return torch.gather(data, axis, _indices(indices, data.shape[axis], data.device))


@op("Expand")
def _expand(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    data = inputs[0]
    return data.expand(torch.broadcast_shapes(tuple(data.shape), tuple(ints(inputs[1]))))


@op("Tile")
def _tile(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    return inputs[0].repeat(*ints(inputs[1]))


@op("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd")
def _reduce(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    data = inputs[0]
    keep = bool(node.attrs.get("keepdims", 1))
    axes = axes_of(node, inputs, 1, data.dim())
    if axes is None:
        if node.attrs.get("noop_with_empty_axes", 0):
            return data
        axes = list(range(data.dim()))
    if node.op == "ReduceSum":
        return data.sum(dim=axes, keepdim=keep)
    if node.op == "ReduceMean":
        return data.mean(dim=axes, keepdim=keep)
    if node.op == "ReduceProd":
        for axis in reversed(axes):
            data = data.prod(dim=axis, keepdim=keep)
        return data
    reduce = torch.amax if node.op == "ReduceMax" else torch.amin
    return reduce(data, dim=axes, keepdim=keep)


@op("ArgMax", "ArgMin")
def _arg(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    data, axis = inputs[0], node.attrs.get("axis", 0)
    keep = bool(node.attrs.get("keepdims", 1))
    if node.attrs.get("select_last_index", 0):
        flipped = data.flip(axis)
        found = (flipped.argmax if node.op == "ArgMax" else flipped.argmin)(dim=axis, keepdim=keep)
        return data.shape[axis] - 1 - found
    return (data.argmax if node.op == "ArgMax" else data.argmin)(dim=axis, keepdim=keep)


@op("TopK")
def _topk(context: RunContext, node: Node, inputs: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    data, k = inputs[0], ints(inputs[1])[0]
    largest = bool(node.attrs.get("largest", 1))
    values, indices = torch.topk(
        data, k, dim=node.attrs.get("axis", -1), largest=largest, sorted=True
    )
    return values, indices


@op("NonZero")
def _nonzero(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    return torch.nonzero(inputs[0]).T.contiguous()


@op("Einsum")
def _einsum(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    return torch.einsum(node.attrs["equation"], *context.same_place(*inputs))


@op("Softmax", "LogSoftmax")
def _softmax(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    function = torch.softmax if node.op == "Softmax" else torch.log_softmax
    return function(inputs[0], dim=node.attrs.get("axis", -1))
