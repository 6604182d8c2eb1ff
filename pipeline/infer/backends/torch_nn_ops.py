"""ONNX's network operators in PyTorch (convolution, pooling, normalisation, resizing,
sampling, padding, Gemm), with ONNX's padding and coordinate conventions."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from pipeline.infer.backends.onnx_torch import Node, RunContext
from pipeline.infer.backends.torch_ops import ints, op


def _pads(node: Node, spatial: int) -> list[int]:
    """ONNX pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...]; auto_pad other than NOTSET
    and VALID is refused (Ultralytics exports write explicit pads)."""
    auto = node.attrs.get("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "VALID"):
        raise ValueError(f"auto_pad {auto} is not supported")
    pads = list(node.attrs.get("pads", [0] * (2 * spatial)))
    return [0] * (2 * spatial) if auto == "VALID" else pads


def _torch_pad(pads: list[int]) -> list[int]:
    """ONNX begin/end pads -> F.pad's (last axis first) [begin, end, begin, end, ...]."""
    spatial = len(pads) // 2
    result = []
    for axis in reversed(range(spatial)):
        result += [pads[axis], pads[axis + spatial]]
    return result


def _symmetric(pads: list[int]) -> tuple[int, ...] | None:
    spatial = len(pads) // 2
    begin, end = pads[:spatial], pads[spatial:]
    return tuple(begin) if begin == end else None


@op("Conv")
def _conv(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    x, weight = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    spatial = weight.dim() - 2
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[spatial]
    pads = _pads(node, spatial)
    padding = _symmetric(pads)
    if padding is None:
        x, padding = F.pad(x, _torch_pad(pads)), (0,) * spatial
    return conv(
        x,
        weight,
        bias,
        stride=node.attrs.get("strides", [1] * spatial),
        padding=padding,
        dilation=node.attrs.get("dilations", [1] * spatial),
        groups=node.attrs.get("group", 1),
    )


@op("MaxPool", "AveragePool")
def _pool(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    x = inputs[0]
    kernel = node.attrs["kernel_shape"]
    spatial = len(kernel)
    pads = _pads(node, spatial)
    padding = _symmetric(pads)
    strides = node.attrs.get("strides", [1] * spatial)
    ceil = bool(node.attrs.get("ceil_mode", 0))
    if node.op == "MaxPool":
        if padding is None:
            x, padding = F.pad(x, _torch_pad(pads), value=float("-inf")), (0,) * spatial
        pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[spatial]
        dilation = node.attrs.get("dilations", [1] * spatial)
        return pool(x, kernel, strides, padding, dilation, ceil_mode=ceil)
    if padding is None:
        raise ValueError("AveragePool with asymmetric pads is not supported")
    average = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[spatial]
    include = bool(node.attrs.get("count_include_pad", 0))
    return average(x, kernel, strides, padding, ceil_mode=ceil, count_include_pad=include)


@op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    x = inputs[0]
    axes = list(range(2, x.dim()))
    return x.mean(dim=axes, keepdim=True) if node.op == "GlobalAveragePool" else x.amax(axes, True)


@op("BatchNormalization")
def _batch_norm(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    x, scale, bias, mean, variance = inputs[:5]
    epsilon = node.attrs.get("epsilon", 1e-5)
    return F.batch_norm(x, mean, variance, scale, bias, training=False, eps=epsilon)


@op("LayerNormalization")
def _layer_norm(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    x, scale = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    axis = node.attrs.get("axis", -1) % x.dim()
    epsilon = node.attrs.get("epsilon", 1e-5)
    return F.layer_norm(x, tuple(x.shape[axis:]), scale, bias, epsilon)


@op("InstanceNormalization")
def _instance_norm(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    x, scale, bias = inputs
    return F.instance_norm(x, weight=scale, bias=bias, eps=node.attrs.get("epsilon", 1e-5))


@op("Gemm")
def _gemm(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    a, b = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    if node.attrs.get("transA", 0):
        a = a.T
    if node.attrs.get("transB", 0):
        b = b.T
    result = node.attrs.get("alpha", 1.0) * (a @ b)
    return result if c is None else result + node.attrs.get("beta", 1.0) * c


# ONNX Resize coordinate modes -> F.interpolate's align_corners, for linear modes.
LINEAR_ALIGN = {"half_pixel": False, "pytorch_half_pixel": False, "align_corners": True}


@op("Resize")
def _resize(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    x = inputs[0]
    scales = inputs[2] if len(inputs) > 2 and inputs[2] is not None and inputs[2].numel() else None
    sizes = ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
    mode = node.attrs.get("mode", "nearest")
    transform = node.attrs.get("coordinate_transformation_mode", "half_pixel")
    size = tuple(sizes[2:]) if sizes else None
    factors = None
    if size is None and scales is not None:
        factors = tuple(float(s) for s in scales.reshape(-1).tolist()[2:])
    if mode == "nearest":
        nearest = node.attrs.get("nearest_mode", "round_prefer_floor")
        # F.interpolate's "nearest" picks floor(out_index / scale): ONNX asymmetric + floor.
        if transform != "asymmetric" or nearest != "floor":
            raise ValueError(f"nearest resize with {transform}/{nearest} is not supported")
        return F.interpolate(x, size=size, scale_factor=factors, mode="nearest")
    if mode == "linear" and transform in LINEAR_ALIGN:
        bilinear = {1: "linear", 2: "bilinear", 3: "trilinear"}[x.dim() - 2]
        return F.interpolate(
            x, size=size, scale_factor=factors, mode=bilinear, align_corners=LINEAR_ALIGN[transform]
        )
    raise ValueError(f"resize mode {mode} with {transform} is not supported")


@op("GridSample")
def _grid_sample(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    x, grid = context.same_place(*inputs)
    mode = {"linear": "bilinear", "bilinear": "bilinear", "nearest": "nearest"}.get(
        node.attrs.get("mode", "linear")
    )
    if mode is None:
        raise ValueError(f"GridSample mode {node.attrs['mode']} is not supported")
    return F.grid_sample(
        x,
        grid.to(x.dtype),
        mode=mode,
        padding_mode=node.attrs.get("padding_mode", "zeros"),
        align_corners=bool(node.attrs.get("align_corners", 0)),
    )


PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


@op("Pad")
def _pad(context: RunContext, node: Node, inputs: list[Any]) -> torch.Tensor:
    x, pads = inputs[0], ints(inputs[1])
    mode = node.attrs.get("mode", "constant")
    if mode not in PAD_MODES:
        raise ValueError(f"Pad mode {mode} is not supported")
    value = inputs[2].item() if len(inputs) > 2 and inputs[2] is not None else 0.0
    if len(inputs) > 3 and inputs[3] is not None:  # opset 18 axes: pads for those axes only
        axes = [a % x.dim() for a in ints(inputs[3])]
        full = [0] * (2 * x.dim())
        for position, axis in enumerate(axes):
            full[axis], full[axis + x.dim()] = pads[position], pads[position + len(axes)]
        pads = full
    rank = x.dim()
    # F.pad pads from the last axis; trailing axes without padding can be left out.
    torch_pads: list[int] = []
    for axis in reversed(range(rank)):
        torch_pads += [pads[axis], pads[axis + rank]]
    while torch_pads and torch_pads[-2:] == [0, 0]:
        torch_pads = torch_pads[:-2]
    if not torch_pads:
        return x
    if mode == "constant":
        return F.pad(x, torch_pads, mode="constant", value=value)
    return F.pad(x, torch_pads, mode=PAD_MODES[mode])
