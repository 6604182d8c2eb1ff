"""TensorRT backend: an engine built by `make engines`, run with name-keyed I/O on one stream.

At load the engine's manifest is judged against this machine (ONNX hash, TensorRT version,
GPU, precision, profile: engines/staleness.py); a stale or missing engine is refused with the
reason and the command that fixes it, or built here when the site sets
`tensorrt.rebuild_stale` (the supervisor gives a STARTING process `supervisor_startup_timeout`).

Per batch: the uint8 (B, H, W, 3) frames are copied into pinned memory, sent to the device as
uint8 (a quarter of float32's bytes) and normalised inside the engine (engines/frames_input.py);
`set_input_shape` + `set_tensor_address` by tensor name, `execute_async_v3` on our own stream,
outputs copied back asynchronously, one synchronisation (shared/API_NOTES.md §1 "Runtime,
engine and execution context", §2 for the memory calls). Buffers are allocated once, at the
profile's max batch; larger batches run in chunks of it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from engines.availability import TensorRtMissing, import_tensorrt
from engines.builder import BuildError, build_engine, device_facts, register_plugins
from engines.checking import fix_command, refusal, target_verdict
from engines.frames_input import FRAMES_INPUT
from engines.manifest import EngineManifest, ManifestError, read_manifest
from engines.progress import LoggedBuildProgress
from engines.targets import EngineTarget, TargetError, model_target
from pipeline.config.models import ModelConfig, SiteConfig
from pipeline.infer.backends.base import ModelLoadError
from pipeline.infer.backends.cuda_memory import CudaError, CudaMemory, open_cuda
from pipeline.infer.layouts import extra_inputs
from pipeline.infer.model_spec import ModelSpec, describe_model

logger = logging.getLogger(__name__)


class TensorBindingError(RuntimeError):
    """The execution context refused a tensor's shape or device address."""


def set_input_shape(context: Any, name: str, shape: tuple[int, ...], site_file: Path) -> None:
    """`context.set_input_shape`, which returns False (TensorRT logs why) rather than raising
    on TensorRT 10 and 11 when the shape is outside the engine's optimization profile. The
    shapes asked for come from the manifest, so a refusal means the engine does not match it."""
    if not context.set_input_shape(name, shape):
        raise TensorBindingError(
            f"TensorRT refused shape {shape} for input {name}: outside the engine's optimization "
            "profile (TensorRT's log above says which dimension), so the engine does not match "
            f"its manifest; rebuild it: python -m engines.build {site_file} --force"
        )


def set_tensor_address(context: Any, name: str, pointer: int) -> None:
    """`context.set_tensor_address`, which returns False for a name that is not an I/O tensor
    of the engine or a null or misaligned pointer (TensorRT 10 and 11)."""
    if not context.set_tensor_address(name, pointer):
        raise TensorBindingError(
            f"TensorRT refused device address {pointer:#x} for tensor {name} (not an I/O tensor "
            "of this engine, or a null or misaligned pointer)"
        )


def manifest_spec(model: ModelConfig, manifest: EngineManifest) -> ModelSpec:
    """The model's spec as the engine's manifest records the source graph."""
    inputs = [(t.name, list(t.dims)) for t in manifest.onnx_inputs]
    outputs = [(t.name, list(t.dims)) for t in manifest.onnx_outputs]
    return describe_model(model, inputs, outputs, manifest.metadata)


def ready_engine(
    trt: Any, site: SiteConfig, model: ModelConfig, spec: ModelSpec, site_file: Path
) -> EngineTarget:
    """The model's engine, up to date on this machine (built here if the site allows),
    else ModelLoadError saying why and what to run (on `site_file`, the site's YAML)."""
    try:
        target = model_target(site, model, spec)
        device = device_facts(trt, site.tensorrt.device_id)
        verdict = target_verdict(target, device)
    except (TargetError, CudaError, ValueError) as error:
        raise ModelLoadError(f"{model.path}: backend tensorrt: {error}") from None
    if verdict.up_to_date:
        return target
    if not site.tensorrt.rebuild_stale:
        raise ModelLoadError(refusal(target, verdict, site_file))
    logger.warning(
        "%s: engine %s; building it now (tensorrt.rebuild_stale)", target.engine, verdict.describe()
    )
    try:
        build_engine(trt, target, device, LoggedBuildProgress(model.display_name))
    except (BuildError, CudaError, RuntimeError, ValueError) as error:
        raise ModelLoadError(f"{target.engine}: build failed: {error}") from None
    return target


class TensorRtBackend:
    """A detector loaded once from its TensorRT engine; `site_file` is the site's YAML, named
    in the command that rebuilds the engine."""

    def __init__(
        self,
        site: SiteConfig,
        model: ModelConfig,
        expected: ModelSpec,
        max_batch: int,
        site_file: Path,
    ) -> None:
        self._site_file = site_file
        try:
            trt = import_tensorrt()
        except TensorRtMissing as error:
            raise ModelLoadError(f"{model.path}: backend tensorrt: {error}") from None
        target = ready_engine(trt, site, model, expected, site_file)
        try:
            manifest = read_manifest(target.manifest)
        except ManifestError as error:
            raise ModelLoadError(str(error)) from None
        self.spec = manifest_spec(model, manifest)
        if self.spec.essentials() != expected.essentials():
            raise ModelLoadError(
                f"{target.engine}: the engine describes {self.spec.describe()}, the site planned "
                f"with {expected.describe()}; restart the site"
            )
        self.name = f"tensorrt {manifest.settings.precision.value}"
        self.max_batch = max_batch
        self.preprocess_seconds = 0.0
        self._trt = trt
        trt_logger = trt.Logger(trt.Logger.WARNING)
        register_plugins(trt, trt_logger)
        self._runtime = trt.Runtime(trt_logger)
        if site.tensorrt.dla_core is not None:
            self._runtime.DLA_core = site.tensorrt.dla_core
        # deserialize_cuda_engine returns None on failure (shared/API_NOTES.md §1).
        self._engine = self._runtime.deserialize_cuda_engine(target.engine.read_bytes())
        if self._engine is None:
            raise ModelLoadError(
                f"{target.engine}: TensorRT cannot load it (its log above says why)"
            )
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise ModelLoadError(f"{target.engine}: no execution context (GPU memory?)")
        self._fixed = self.spec.batch is not None
        self._chunk = manifest.settings.batch_profile[2]
        try:
            self._memory: CudaMemory = open_cuda(site.tensorrt.device_id)
        except CudaError as error:
            raise ModelLoadError(f"{target.engine}: {error}") from None
        try:
            self._allocate(target)
        except BaseException as error:
            # The memory object owns every buffer _allocate got before it failed: free them
            # all, whatever failed (a load error must not leak GPU memory into a retry).
            self.close()
            if isinstance(error, (CudaError, TensorBindingError)):
                raise ModelLoadError(f"{target.engine}: {error}") from None
            raise

    def _allocate(self, target: EngineTarget) -> None:
        trt, engine, context, memory = self._trt, self._engine, self._context, self._memory
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if (
            FRAMES_INPUT not in inputs
            or engine.get_tensor_dtype(FRAMES_INPUT) != trt.DataType.UINT8
        ):
            raise ModelLoadError(
                f"{target.engine}: no uint8 {FRAMES_INPUT} input (inputs: {', '.join(inputs)}); "
                f"rebuild it: {fix_command(self._site_file)}"
            )
        missing = [name for name in self.spec.layout.outputs if name not in outputs]
        if missing:
            raise ModelLoadError(f"{target.engine}: outputs {', '.join(missing)} missing")
        spec, chunk = self.spec, self._chunk
        self._frames_shape = (spec.input_height, spec.input_width, 3)
        self._host_frames = memory.pinned((chunk, *self._frames_shape), np.dtype(np.uint8))
        self._device_frames = memory.device(self._host_frames.nbytes)
        set_input_shape(context, FRAMES_INPUT, (chunk, *self._frames_shape), self._site_file)
        set_tensor_address(context, FRAMES_INPUT, self._device_frames)
        # Inputs besides the frames (RT-DETR's target sizes): the same for every image, so
        # copied once at the largest batch; a smaller batch reads its first rows.
        self._extra_shapes: dict[str, tuple[int, ...]] = {}
        size = (spec.input_width, spec.input_height)
        for name, value in extra_inputs(spec.layout, chunk, size).items():
            dtype = np.dtype(self._trt.nptype(engine.get_tensor_dtype(name)))
            host = memory.pinned(value.shape, dtype)
            np.copyto(host, value, casting="same_kind")
            pointer = memory.device(host.nbytes)
            memory.to_device(pointer, host)
            set_input_shape(context, name, value.shape, self._site_file)
            set_tensor_address(context, name, pointer)
            self._extra_shapes[name] = value.shape[1:]
        unresolved = [
            name for name in inputs if name != FRAMES_INPUT and name not in self._extra_shapes
        ]
        if unresolved:
            raise ModelLoadError(f"{target.engine}: inputs {', '.join(unresolved)} have no data")
        self._outputs: dict[str, tuple[np.ndarray, int]] = {}  # name -> (pinned host, device)
        for name in outputs:
            shape = tuple(context.get_tensor_shape(name))  # resolved from the max input shapes
            if any(dim < 0 for dim in shape):
                raise ModelLoadError(
                    f"{target.engine}: output {name} has a data-dependent shape {shape}"
                )
            dtype = np.dtype(self._trt.nptype(engine.get_tensor_dtype(name)))
            host = memory.pinned(shape, dtype)
            pointer = memory.device(host.nbytes)
            set_tensor_address(context, name, pointer)
            self._outputs[name] = (host, pointer)
        memory.synchronize()

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        count = len(images)
        if not 0 < count <= self.max_batch:
            raise ValueError(f"batch of {count} images; this model takes 1..{self.max_batch}")
        if images.shape[1:] != self._frames_shape or images.dtype != np.uint8:
            raise ValueError(
                f"expected (B, {', '.join(map(str, self._frames_shape))}) uint8 frames, "
                f"got {images.shape} {images.dtype}"
            )
        parts = [
            self._run(images[start : start + self._chunk]) for start in range(0, count, self._chunk)
        ]
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def _run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """One call of at most the profile's max batch; a fixed-batch engine gets the last
        image repeated up to its batch."""
        real = len(images)
        run = self._chunk if self._fixed else real
        started = time.perf_counter()
        np.copyto(self._host_frames[:real], images)
        self._host_frames[real:run] = images[-1]
        self.preprocess_seconds += time.perf_counter() - started
        context, memory = self._context, self._memory
        set_input_shape(context, FRAMES_INPUT, (run, *self._frames_shape), self._site_file)
        for name, rest in self._extra_shapes.items():
            set_input_shape(context, name, (run, *rest), self._site_file)
        memory.to_device(self._device_frames, self._host_frames[:run])
        if not context.execute_async_v3(memory.stream):
            raise RuntimeError("TensorRT execute_async_v3 failed (its log above says why)")
        views = {}
        for name, (host, pointer) in self._outputs.items():
            shape = tuple(context.get_tensor_shape(name))
            view = host.reshape(-1)[: int(np.prod(shape))].reshape(shape)
            memory.to_host(view, pointer)
            views[name] = view
        memory.synchronize()
        return {name: view[:real].copy() for name, view in views.items()}

    def close(self) -> None:
        # The context and engine go before the memory they point into.
        self._context = None
        self._engine = None
        self._memory.close()
