"""ONNX Runtime backend (CPU provider by default)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pipeline.infer.backends.base import ModelLoadError, ModelSpec, class_names_from_metadata

logger = logging.getLogger(__name__)


class OnnxRuntimeBackend:
    """A YOLO-layout detector loaded once into an ONNX Runtime session."""

    name = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        providers: tuple[str, ...] = ("CPUExecutionProvider",),
        intra_op_threads: int = 0,
    ) -> None:
        import onnxruntime as ort  # imported here: only the inference process pays for it

        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(
                f"{path}: model file not found (run `make demo-model` or fix model.path)"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=list(providers))
        except Exception as error:  # ORT raises its own exception types for bad files
            raise ModelLoadError(f"{path}: ONNX Runtime cannot load it: {error}") from error
        self.spec = self._describe(path)
        self._output_name = self._session.get_outputs()[0].name
        logger.info(
            "Loaded %s (%dx%d, classes %s) with %s",
            path.name,
            self.spec.input_width,
            self.spec.input_height,
            ", ".join(self.spec.class_names),
            ", ".join(self._session.get_providers()),
        )

    @property
    def input_size(self) -> tuple[int, int]:
        return self.spec.input_width, self.spec.input_height

    @property
    def class_names(self) -> list[str]:
        return list(self.spec.class_names)

    def _describe(self, path: Path) -> ModelSpec:
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1:
            raise ModelLoadError(f"{path}: expected one image input, found {len(inputs)}")
        shape = inputs[0].shape
        if len(shape) != 4 or not isinstance(shape[2], int) or not isinstance(shape[3], int):
            raise ModelLoadError(
                f"{path}: expected input (B, 3, H, W) with fixed H, W, got {shape}"
            )
        out_shape = outputs[0].shape
        if len(out_shape) != 3 or not isinstance(out_shape[1], int) or out_shape[1] < 5:
            raise ModelLoadError(
                f"{path}: expected a YOLO-layout output (B, 4 + classes, N), got {out_shape}"
            )
        metadata = self._session.get_modelmeta().custom_metadata_map
        batch = shape[0]
        return ModelSpec(
            input_name=inputs[0].name,
            input_width=shape[3],
            input_height=shape[2],
            class_names=class_names_from_metadata(metadata, out_shape[1] - 4),
            max_batch=batch if isinstance(batch, int) else None,
        )

    def infer(self, batch: np.ndarray) -> np.ndarray:
        outputs = self._session.run([self._output_name], {self.spec.input_name: batch})
        return np.asarray(outputs[0])

    def close(self) -> None:
        del self._session
