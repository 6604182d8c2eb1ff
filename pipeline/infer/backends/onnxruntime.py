"""ONNX Runtime backend: CPU by default, CUDA and TensorRT execution providers where installed.

On the CPU the uint8 batch is normalised by numpy (pipeline.infer.preprocess) into a float32
buffer that the session reads. On a GPU provider (or with `onnxruntime.uint8_input`) the
session runs the graph with the uint8 frames input in front (engines/frames_input.py, the
same rewrite the TensorRT engines have), bound with IO binding: the frames go to the device
as uint8, a quarter of float32's bytes, and are normalised there (shared/API_NOTES.md §3).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from engines.frames_input import FRAMES_INPUT, FramesInputError, with_frames_input
from pipeline.config.backends import OnnxRuntimeConfig, Provider
from pipeline.config.models import ModelConfig
from pipeline.infer.backends.base import ModelLoadError
from pipeline.infer.layouts import extra_inputs
from pipeline.infer.model_spec import ModelSpec, describe_model, read_model_spec
from pipeline.infer.preprocess import to_model_input

logger = logging.getLogger(__name__)

PROVIDER_NAMES = {
    Provider.CPU: "CPUExecutionProvider",
    Provider.CUDA: "CUDAExecutionProvider",
    Provider.TENSORRT: "TensorrtExecutionProvider",
}


def session_providers(settings: OnnxRuntimeConfig) -> list[str | tuple[str, dict[str, str]]]:
    """The providers list for InferenceSession, each with its options (shared/API_NOTES.md)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    missing = [p.value for p in settings.providers if PROVIDER_NAMES[p] not in available]
    if missing:
        raise ModelLoadError(
            f"onnxruntime.providers asks for {', '.join(missing)}, which this ONNX Runtime "
            f"({ort.__version__}) does not have (it has {', '.join(available)}); install "
            "onnxruntime-gpu for cuda and tensorrt, or remove them from the site file"
        )
    device = str(settings.device_id)
    providers: list[str | tuple[str, dict[str, str]]] = []
    for provider in settings.providers:
        if provider is Provider.TENSORRT:
            options = {"device_id": device, "trt_fp16_enable": str(settings.trt_fp16)}
            if settings.trt_engine_cache is not None:
                options["trt_engine_cache_enable"] = "True"
                options["trt_engine_cache_path"] = str(settings.trt_engine_cache)
            providers.append((PROVIDER_NAMES[provider], options))
        elif provider is Provider.CUDA:
            providers.append((PROVIDER_NAMES[provider], {"device_id": device}))
        else:
            providers.append(PROVIDER_NAMES[provider])
    return providers


def intra_op_threads(configured: int) -> int:
    """`onnxruntime.threads`, with 0 resolved: one thread per CPU this process may run on, less
    one for the camera processes that share the machine, and at least one.

    ONNX Runtime's own default (one per physical core) makes its threads wait for cores that
    the cameras hold. Measured on 2 vCPUs, 4 synthetic cameras, the demo detector at batch 4
    (`python -m bench.pipeline --threads N`, four runs each): the same images/s (1 thread
    45.8-54.6, 2 threads 46.7-54.0) for 0.99-1.04x the model's own CPU per image instead of
    1.11-1.19x. A site with one or two cameras on an idle machine loses latency this way (the
    model alone: 52 against 86 images/s): set `threads` there."""
    if configured:
        return configured
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (usable or 1) - 1)


class OnnxRuntimeBackend:
    """A detector loaded once into an ONNX Runtime session."""

    def __init__(
        self, model: ModelConfig, expected: ModelSpec, settings: OnnxRuntimeConfig, max_batch: int
    ) -> None:
        import onnxruntime as ort  # imported here: only the inference process pays for it

        path = model.path
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads(settings.threads)
        options.log_severity_level = 3
        # Worker threads that spin between batches burn the cores the camera processes need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = session_providers(settings)
        on_gpu = settings.providers[0] in (Provider.CUDA, Provider.TENSORRT)
        self.uint8_input = on_gpu if settings.uint8_input is None else settings.uint8_input
        source: str | bytes = str(path)
        file_spec = None
        if self.uint8_input:  # the session's graph is the rewritten one: describe the file's
            file_spec = read_model_spec(model)
            source = _framed_graph(path, file_spec.input_name)
        try:
            self._session = ort.InferenceSession(source, options, providers=providers)
        except Exception as error:  # ORT raises its own exception types for bad files
            raise ModelLoadError(f"{path}: ONNX Runtime cannot load it: {error}") from error
        used = self._session.get_providers()
        refused = [p.value for p in settings.providers if PROVIDER_NAMES[p] not in used]
        if refused:  # ORT drops a provider it cannot start; never run silently elsewhere
            raise ModelLoadError(
                f"{path}: ONNX Runtime could not start provider {', '.join(refused)} "
                f"(it runs on {', '.join(used)}); see its log above, or change onnxruntime.providers"
            )
        self.spec = file_spec or self._describe(model)
        if self.spec.essentials() != expected.essentials():
            raise ModelLoadError(
                f"{path}: the file changed since the site started ({self.spec.describe()}, "
                f"was {expected.describe()}); restart the site"
            )
        self.name = f"onnxruntime {used[0].removesuffix('ExecutionProvider').lower()}"
        self.max_batch = max_batch
        self.preprocess_seconds = 0.0
        # A fixed-batch model runs in chunks of its batch, the last one padded with copies of
        # its last image (never a shape the model refuses).
        self._chunk = self.spec.batch or min(self.spec.max_batch or max_batch, max_batch)
        height, width = self.spec.input_height, self.spec.input_width
        rows = -(-max_batch // self._chunk) * self._chunk  # whole chunks: padding always fits
        if self.uint8_input:
            self._tensor = np.zeros((rows, height, width, 3), np.uint8)
            self._binding = self._session.io_binding()
        else:
            self._tensor = np.zeros((rows, 3, height, width), np.float32)
        self._output_names = list(self.spec.layout.outputs)
        self._extra = extra_inputs(self.spec.layout, self._chunk, (width, height))

    @classmethod
    def from_path(cls, path: Path, max_batch: int, threads: int = 0) -> OnnxRuntimeBackend:
        """A CPU session of the model at `path` with default settings (benchmarks, tools)."""
        from pipeline.infer.model_spec import read_model_spec

        model = ModelConfig(path=path)
        return cls(model, read_model_spec(model), OnnxRuntimeConfig(threads=threads), max_batch)

    def _describe(self, model: ModelConfig) -> ModelSpec:
        def shape(arg: object) -> tuple[str, list[int | str]]:
            dims = [d if isinstance(d, int) else (d or "?") for d in arg.shape]  # type: ignore[attr-defined]
            return arg.name, dims  # type: ignore[attr-defined]

        inputs = [shape(arg) for arg in self._session.get_inputs()]
        outputs = [shape(arg) for arg in self._session.get_outputs()]
        metadata = self._session.get_modelmeta().custom_metadata_map
        return describe_model(model, inputs, outputs, metadata)

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        count = len(images)
        if not 0 < count <= self.max_batch:
            raise ValueError(f"batch of {count} images; this model takes 1..{self.max_batch}")
        started = time.perf_counter()
        if self.uint8_input:
            tensor = self._tensor[:count]
            np.copyto(tensor, images)
        else:
            tensor = to_model_input(images, out=self._tensor[:count])
        self.preprocess_seconds += time.perf_counter() - started
        parts: list[list[np.ndarray]] = []
        for start in range(0, count, self._chunk):
            real = min(self._chunk, count - start)
            run = self._chunk if self.spec.batch else real
            chunk = self._tensor[start : start + run]
            chunk[real:] = tensor[count - 1]
            extras = {name: value[:run] for name, value in self._extra.items()}
            values = self._run(chunk, extras)
            parts.append([np.asarray(value)[:real] for value in values])
        if len(parts) == 1:
            return dict(zip(self._output_names, parts[0], strict=True))
        return {
            name: np.concatenate([part[index] for part in parts])
            for index, name in enumerate(self._output_names)
        }

    def _run(self, chunk: np.ndarray, extras: dict[str, np.ndarray]) -> list[np.ndarray]:
        if not self.uint8_input:
            return self._session.run(self._output_names, {self.spec.input_name: chunk, **extras})
        binding = self._binding
        binding.bind_cpu_input(FRAMES_INPUT, chunk)
        for name, value in extras.items():
            binding.bind_cpu_input(name, value)
        for name in self._output_names:
            binding.bind_output(name, "cpu")  # ORT allocates: output shapes may vary
        self._session.run_with_iobinding(binding)
        outputs: list[np.ndarray] = binding.copy_outputs_to_cpu()
        binding.clear_binding_outputs()
        return outputs

    def close(self) -> None:
        if self.uint8_input:
            del self._binding
        del self._session


def _framed_graph(path: Path, image_input: str) -> bytes:
    """The model at `path` with the uint8 frames input in front of `image_input`."""
    import onnx

    try:
        return with_frames_input(onnx.load(str(path)), image_input).SerializeToString()
    except (FramesInputError, ValueError) as error:
        raise ModelLoadError(
            f"{path}: cannot take uint8 frames ({error}); set onnxruntime.uint8_input: false"
        ) from error
