"""An ONNX graph run by PyTorch, node by node: the torch backend's engine.

Why not onnx2torch or an Ultralytics checkpoint: both import torchvision at import time, and
torchvision's wheels do not load beside the CPU build of torch 2.13 (`operator
torchvision::nms does not exist`), so neither could run on machines without CUDA; and a
checkpoint is not the file the site names. This runs the very ONNX the site configures (its
spec, names and layout unchanged) with the operators Ultralytics' YOLO and RT-DETR exports use
(pipeline/infer/backends/torch_ops.py); an operator it lacks is named at load, never skipped.

Tensors live where they are cheapest: float activations on the model's device in its dtype
(float16 on CUDA when asked), shape arithmetic (Shape, Gather of shapes, Concat of dims) as
small int64 tensors on the CPU, so reading a shape never waits for the GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

MIN_OPSET = 13  # Softmax, Split, Squeeze, Unsqueeze and ReduceSum changed meaning at 13


class UnsupportedGraph(ValueError):
    """The graph uses something this runner does not implement; the message lists it all."""


@dataclass(frozen=True)
class Node:
    op: str
    name: str
    inputs: tuple[str, ...]  # "" for an omitted optional input
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any]  # numpy arrays for tensor attributes


class RunContext:
    """What every operator needs: where float tensors live and in which dtype."""

    def __init__(self, device: torch.device, dtype: torch.dtype, opset: int) -> None:
        self.device = device
        self.dtype = dtype  # the dtype of float activations: float32, or float16 on CUDA
        self.opset = opset

    def floating(self, tensor: torch.Tensor) -> torch.Tensor:
        """A float tensor in the run's dtype, on the run's device."""
        return tensor.to(device=self.device, dtype=self.dtype)

    def same_place(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        """The tensors on one device (the run's, if any is there) and, if several are float,
        in one float dtype: ONNX's elementwise ops never mix types, but float constants
        created on the CPU by shape arithmetic meet activations on the GPU."""
        on_device = any(t.device != torch.device("cpu") for t in tensors)
        floats = [t for t in tensors if t.is_floating_point()]
        mixed = len({t.dtype for t in floats}) > 1
        result = []
        for tensor in tensors:
            if on_device and tensor.device != self.device:
                tensor = tensor.to(self.device)
            if mixed and tensor.is_floating_point():
                tensor = tensor.to(self.dtype)
            result.append(tensor)
        return result


Operator = Callable[[RunContext, Node, list[Any]], Any]


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    attrs = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        attrs[attribute.name] = value
    return attrs


def to_torch(array: np.ndarray, context: RunContext) -> torch.Tensor:
    """A constant of the graph: floats on the run's device and dtype, the rest on the CPU."""
    tensor = torch.from_numpy(np.array(array, copy=True))
    if tensor.is_floating_point():
        return context.floating(tensor)
    return tensor


class OnnxTorchGraph:
    """Load once with `(model, device, dtype)`, then `run({input name: tensor})` returns every
    graph output by name (float outputs as float32)."""

    def __init__(self, model: onnx.ModelProto, device: torch.device, dtype: torch.dtype) -> None:
        from pipeline.infer.backends import torch_nn_ops  # noqa: F401  (registers its operators)
        from pipeline.infer.backends.torch_ops import OPERATORS

        opset = next(
            (entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0
        )
        if opset < MIN_OPSET:
            raise UnsupportedGraph(
                f"opset {opset}: re-export the model with opset {MIN_OPSET} or newer"
            )
        graph = model.graph
        self.context = RunContext(device, dtype, opset)
        self.constants: dict[str, torch.Tensor] = {
            init.name: to_torch(numpy_helper.to_array(init), self.context)
            for init in graph.initializer
        }
        self.inputs = [value.name for value in graph.input if value.name not in self.constants]
        self.outputs = [value.name for value in graph.output]
        self.nodes: list[tuple[Node, Operator]] = []
        unknown: dict[str, int] = {}
        for proto in graph.node:
            node = Node(
                proto.op_type,
                proto.name,
                tuple(proto.input),
                tuple(proto.output),
                _attributes(proto),
            )
            if proto.domain not in ("", "ai.onnx") or node.op not in OPERATORS:
                key = node.op if proto.domain in ("", "ai.onnx") else f"{proto.domain}.{node.op}"
                unknown[key] = unknown.get(key, 0) + 1
                continue
            if node.op == "Constant":  # folded now: no work per call
                self.constants[node.outputs[0]] = OPERATORS["Constant"](self.context, node, [])
                continue
            self.nodes.append((node, OPERATORS[node.op]))
        if unknown:
            listed = ", ".join(f"{op} (x{count})" for op, count in sorted(unknown.items()))
            raise UnsupportedGraph(f"operators not implemented by the torch backend: {listed}")
        self._last_use = self._lifetimes()

    def _lifetimes(self) -> list[list[str]]:
        """Per node, the values no later node reads: freed as soon as they are done with."""
        last: dict[str, int] = {}
        for index, (node, _) in enumerate(self.nodes):
            for name in node.inputs:
                if name:
                    last[name] = index
        keep = set(self.outputs) | set(self.constants)
        freed: list[list[str]] = [[] for _ in self.nodes]
        for name, index in last.items():
            if name not in keep:
                freed[index].append(name)
        return freed

    @torch.inference_mode()
    def run(self, feeds: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        missing = [name for name in self.inputs if name not in feeds]
        if missing:
            raise ValueError(f"inputs missing: {', '.join(missing)}")
        values: dict[str, Any] = dict(self.constants)
        values.update(feeds)
        for index, (node, operator) in enumerate(self.nodes):
            args = [values[name] if name else None for name in node.inputs]
            try:
                result = operator(self.context, node, args)
            except Exception as error:
                raise RuntimeError(f"{node.op} node {node.name!r}: {error}") from error
            if isinstance(result, tuple):
                values.update(zip(node.outputs, result, strict=False))
            else:
                values[node.outputs[0]] = result
            for name in self._last_use[index]:
                values.pop(name, None)
        results = {}
        for name in self.outputs:
            value = values[name]
            results[name] = value.float() if value.is_floating_point() else value
        return results
