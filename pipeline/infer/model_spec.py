"""Read a model's description without loading it for inference: the one reader of model specs.

The supervisor needs every model's input size (to size the shared-memory rings), class names
(for drawing and to check the prompts file) and output layout before any process starts, and
must not create an inference session itself (CUDA belongs to the inference process alone).
The inference process reads the same spec again from the file it loads, so both sides agree.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.models import ModelConfig
from pipeline.infer.backends.base import ModelLoadError
from pipeline.infer.layouts.detect import detect_layout
from pipeline.infer.layouts.layout import (
    Dim,
    LayoutError,
    LayoutInfo,
    Preprocessing,
    TensorDescription,
)
from pipeline.infer.layouts.metadata import read_metadata


@dataclass(frozen=True)
class ModelSpec:
    """What the runtime needs to know about one detector.

    `input_width`/`input_height`: the model input in pixels. `batch`: the batch size the
    file fixes (partial batches are padded up to it), None for a dynamic batch axis.
    `max_batch`: the most images one call takes (a dynamic Ultralytics `nms=True` export is
    built for at most its `batch`; larger batches run in chunks), None: no limit.
    `class_names`: the model's own classes, indexed by its class ids.
    """

    name: str
    path: Path
    input_width: int
    input_height: int
    batch: int | None
    class_names: tuple[str, ...]
    layout: LayoutInfo
    max_batch: int | None = None

    @property
    def input_name(self) -> str:
        return self.layout.image_input

    @property
    def stretch(self) -> bool:
        return self.layout.preprocessing is Preprocessing.STRETCH

    def essentials(self) -> tuple[object, ...]:
        """What the rings, the decoding and the drawing depend on; two readers of the same
        file (the graph, a backend's session) must agree on these."""
        layout = self.layout
        return (
            self.input_width,
            self.input_height,
            self.batch,
            self.max_batch,
            self.class_names,
            layout.layout,
            layout.preprocessing,
            layout.image_input,
            layout.outputs,
        )

    def describe(self) -> str:
        batch = "dynamic batch" if self.batch is None else f"fixed batch {self.batch}"
        return (
            f"{self.name}: {self.path.name}, {self.layout.layout.value} layout, "
            f"{self.input_width}x{self.input_height} {self.layout.preprocessing.value}, "
            f"{batch}, {len(self.class_names)} classes"
        )


def read_model_spec(model: ModelConfig) -> ModelSpec:
    """Describe the ONNX file of `model` from its graph and `metadata_props`, with what the
    site file adds (input size, class names, layout) where the file leaves it open.

    Raises ModelLoadError with a message that names the file and says what to do.
    """
    import onnx

    path = model.path
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a directory, not a model file")
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    try:
        graph_model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf raises its own DecodeError types
        raise ModelLoadError(f"{path}: not a readable ONNX model: {error}") from error
    graph = graph_model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [(v.name, _dims(v)) for v in graph.input if v.name not in initializers]
    outputs = [(v.name, _dims(v)) for v in graph.output]
    metadata = {prop.key: prop.value for prop in graph_model.metadata_props}
    return describe_model(model, inputs, outputs, metadata)


def describe_model(
    model: ModelConfig,
    inputs: Sequence[TensorDescription],
    outputs: Sequence[TensorDescription],
    metadata: Mapping[str, str],
) -> ModelSpec:
    """The spec of a model from its tensor descriptions (any backend's) and metadata."""
    path = model.path
    names = _class_names(model, metadata)
    try:
        layout = detect_layout(
            inputs,
            outputs,
            metadata,
            model.layout,
            num_classes=len(names) if names is not None else None,
            preprocessing=model.preprocessing,
        )
    except LayoutError as error:
        raise ModelLoadError(f"{path}: {error}") from None
    if names is None:
        if layout.num_classes is None:
            raise ModelLoadError(
                f"{path}: the file names no classes and its outputs do not say how many; "
                "list them in the model's `class_names:` in the site file"
            )
        raise ModelLoadError(
            f"{path}: the file names none of its {layout.num_classes} classes; list them in "
            "the model's `class_names:` in the site file (in the order the model was trained "
            "with), so detections are never reported as bare numbers"
        )
    if layout.num_classes is not None and layout.num_classes != len(names):
        where = "`class_names:`" if model.class_names else "its metadata"
        raise ModelLoadError(
            f"{path}: the outputs have {layout.num_classes} classes but {where} lists "
            f"{len(names)} names"
        )
    image = dict(inputs)[layout.image_input]
    width, height = _input_size(model, image, metadata)
    batch = image[0] if isinstance(image[0], int) and image[0] > 0 else None
    max_batch = batch if batch is not None else _dynamic_limit(metadata)
    spec = ModelSpec(
        model.display_name, path, width, height, batch, tuple(names), layout, max_batch
    )
    unknown = [name for name in model.classes or () if name not in spec.class_names]
    if unknown:
        raise ModelLoadError(
            f"{path}: `classes:` names {', '.join(unknown)}, which the model does not have "
            f"(it has {', '.join(spec.class_names)})"
        )
    return spec


def _dynamic_limit(metadata: Mapping[str, str]) -> int | None:
    """The most images per call of a dynamic-batch file: the project's exporter writes it as
    `vigia_batch`; an Ultralytics `nms=True` export's NMS is built for its `batch` at most
    (a fifth image through a batch-4 file comes back empty, with no error)."""
    declared = metadata.get("vigia_batch", "")
    if declared.isdigit() and int(declared) > 0:
        return int(declared)
    if read_metadata(metadata).nms and metadata.get("batch", "").isdigit():
        return max(1, int(metadata["batch"]))
    return None


def _class_names(model: ModelConfig, metadata: Mapping[str, str]) -> list[str] | None:
    """Class names from the site file (they win: the file's may be bare numbers), else the
    Ultralytics `names` metadata ("{0: 'person', ...}"), else None."""
    if model.class_names is not None:
        return list(model.class_names)
    raw = metadata.get("names")
    if raw is None:
        return None
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError) as error:
        raise ModelLoadError(
            f"{model.path}: metadata 'names' is not a dict or list literal: {raw[:80]!r}"
        ) from error
    if isinstance(parsed, dict):
        return [str(parsed[key]) for key in sorted(parsed)]
    return [str(name) for name in parsed]


def _input_size(
    model: ModelConfig, image: Sequence[Dim], metadata: Mapping[str, str]
) -> tuple[int, int]:
    """(width, height): fixed in the graph, else the site file's `input_size`, else the
    Ultralytics `imgsz` metadata ([h, w])."""
    path = model.path
    if len(image) != 4:
        raise ModelLoadError(f"{path}: expected an image input (B, 3, H, W), got {list(image)}")
    height, width = image[2], image[3]
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        if model.input_size is not None and model.input_size != (width, height):
            raise ModelLoadError(
                f"{path}: the model's input is fixed at {width}x{height}; the site file's "
                f"input_size {model.input_size[0]}x{model.input_size[1]} cannot change it"
            )
        return width, height
    if model.input_size is not None:
        return model.input_size
    imgsz = _imgsz(metadata.get("imgsz"))
    if imgsz is not None:
        return imgsz[1], imgsz[0]
    raise ModelLoadError(
        f"{path}: the input's size is open ({list(image)}) and the file's metadata has no "
        "imgsz; set the model's `input_size: [width, height]` in the site file"
    )


def _imgsz(raw: str | None) -> tuple[int, int] | None:
    """Ultralytics writes `imgsz` as "[640, 640]" (h, w) or "640"."""
    if raw is None:
        return None
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, int):
        return value, value
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) for v in value)
    ):
        return int(value[0]), int(value[1])
    return None


def _dims(value: object) -> list[Dim]:
    shape = value.type.tensor_type.shape  # type: ignore[attr-defined]
    return [
        dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "?") for dim in shape.dim
    ]
