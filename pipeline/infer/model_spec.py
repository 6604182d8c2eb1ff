"""Read a model's description without loading it for inference.

The supervisor needs the input size (to size the shared-memory rings) and the class names
(for drawing, and to check the prompts file) before any process starts, and must not create
an inference session itself (CUDA belongs to the inference process alone).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.infer.backends.base import ModelLoadError, ModelSpec, class_names_from_metadata


def read_onnx_spec(path: Path) -> ModelSpec:
    """Describe a YOLO-layout ONNX detector from its graph and `metadata_props`."""
    import onnx

    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf raises its own DecodeError types
        raise ModelLoadError(f"{path}: not a readable ONNX model: {error}") from error
    initializers = {init.name for init in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    if len(inputs) != 1 or len(model.graph.output) < 1:
        raise ModelLoadError(f"{path}: expected one image input and a detection output")
    input_dims = _dims(inputs[0])
    output_dims = _dims(model.graph.output[0])
    if len(input_dims) != 4 or not all(isinstance(d, int) for d in input_dims[2:]):
        raise ModelLoadError(
            f"{path}: expected input (B, 3, H, W) with fixed H, W, got {input_dims}"
        )
    if len(output_dims) != 3 or not isinstance(output_dims[1], int) or output_dims[1] < 5:
        raise ModelLoadError(
            f"{path}: expected a YOLO-layout output (B, 4 + classes, N), got {output_dims}"
        )
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    batch = input_dims[0]
    return ModelSpec(
        input_name=inputs[0].name,
        input_width=int(input_dims[3]),
        input_height=int(input_dims[2]),
        class_names=class_names_from_metadata(metadata, int(output_dims[1]) - 4),
        max_batch=batch if isinstance(batch, int) else None,
    )


def _dims(value: object) -> list[int | str]:
    shape = value.type.tensor_type.shape  # type: ignore[attr-defined]
    return [
        dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "?") for dim in shape.dim
    ]
