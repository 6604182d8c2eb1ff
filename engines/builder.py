"""Build one TensorRT engine from a target, on TensorRT 10 or 11, and write its manifest.

Only the calls that both versions share, as shared/API_NOTES.md §1 lists them:
`builder.create_network(0)` (EXPLICIT_BATCH is gone in 11, strong typing always on there),
`OnnxParser.parse_from_file` with every error printed with its node,
`set_memory_pool_limit(WORKSPACE, ...)`, one optimization profile over the batch axis,
a timing cache loaded and saved around the build, `build_serialized_network`. Precision
follows engines/precision.py (builder flags on 10 only). Runs only where TensorRT and a GPU
are: nothing here is imported by the code that runs on CPU machines.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from engines.availability import modelopt_version
from engines.calibration import cached_frames, tensorrt_cache_file
from engines.calibration_capture import ready_frames_folder
from engines.frames_input import FRAMES_INPUT
from engines.int8_calibrator import frames_calibrator
from engines.manifest import DeviceFacts, EngineManifest, file_sha256, write_manifest
from engines.onnx_preparation import calibration_feed, prepare_onnx
from engines.precision import PrecisionRoute, precision_route
from engines.progress import BuildProgress
from engines.targets import EngineTarget
from pipeline.config.backends import Precision
from pipeline.infer.backends.cuda_memory import cuda_device, cuda_runtime_version, open_cuda

logger = logging.getLogger(__name__)


class BuildError(RuntimeError):
    """TensorRT could not build the engine; the message says what it reported."""


def device_facts(trt: ModuleType, device_id: int) -> DeviceFacts:
    """This machine's TensorRT, CUDA runtime and GPU `device_id` (CudaError without a GPU)."""
    gpu = cuda_device(device_id)
    return DeviceFacts(
        tensorrt_version=trt.__version__,
        cuda_version=cuda_runtime_version(),
        gpu_name=gpu.name,
        compute_capability=gpu.compute_capability,
    )


def format_parser_error(error: Any) -> str:
    """One ONNX parser error with its node: `desc (node 12 '/model.0/conv/Conv', Conv; code
    UNSUPPORTED_NODE)`. ParserError's accessors are methods (shared/API_NOTES.md §1)."""

    def ask(name: str) -> object:
        accessor = getattr(error, name, None)
        return accessor() if callable(accessor) else None

    where = [f"node {ask('node')}"]
    if ask("node_name"):
        where.append(repr(ask("node_name")))
    if ask("node_operator"):
        where.append(str(ask("node_operator")))
    return f"{ask('desc')} ({' '.join(where)}; code {ask('code')})"


def register_plugins(trt: ModuleType, trt_logger: Any) -> None:
    """TensorRT's own plugins (EfficientNMS_TRT and others) for the parser and the runtime;
    graphs exported with EfficientNMS cannot be parsed or deserialized without them."""
    if not trt.init_libnvinfer_plugins(trt_logger, ""):
        logger.warning("TensorRT's plugin library did not load: plugin layers will be refused")


def timing_cache_file(target: EngineTarget, device: DeviceFacts) -> Path:
    """The site's timing cache, else one per GPU and TensorRT version in the engine folder
    (a timing cache from another GPU or version is useless to TensorRT)."""
    if target.settings.timing_cache is not None:
        return target.settings.timing_cache
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", device.gpu_name).strip("-").lower()
    name = f"timing.{gpu}.sm{device.compute_capability}.trt{device.tensorrt_version}.cache"
    return target.engine.parent / name


def build_engine(
    trt: ModuleType, target: EngineTarget, device: DeviceFacts, progress: BuildProgress | None
) -> EngineManifest:
    """Build `target.engine` and its manifest; BuildError (or PrecisionUnavailable,
    CalibrationError, PreparationError) with the reason when it cannot be built."""
    started = time.monotonic()
    settings = target.settings
    modelopt = modelopt_version()
    route = precision_route(settings.precision, device.tensorrt_version, modelopt)
    onnx_sha256 = file_sha256(target.onnx)
    spec = target.spec
    calibration = None
    if settings.precision is Precision.INT8:
        calibration = cached_frames(
            target.engine.parent,
            target.onnx.stem,
            ready_frames_folder(target, progress),  # captured from the cameras if need be
            settings.calibration_count,
            (spec.input_width, spec.input_height),
            spec.stretch,
        )
    target.engine.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Building %s from %s: %s", target.engine, target.onnx, route.value)
    with tempfile.TemporaryDirectory(dir=target.engine.parent, prefix=".build-") as work:
        parsed = prepare_onnx(target, route, Path(work), onnx_sha256, calibration, modelopt)
        serialized = _build(trt, target, device, route, parsed, calibration, progress)
    temporary = target.engine.with_name(target.engine.name + ".tmp")
    temporary.write_bytes(serialized)
    temporary.replace(target.engine)
    manifest = target.manifest_for(
        device,
        onnx_sha256,
        calibration[0] if calibration else None,
        route.value,
        datetime.now(UTC).isoformat(timespec="seconds"),
        round(time.monotonic() - started, 1),
    )
    write_manifest(target.manifest, manifest)
    return manifest


def _build(
    trt: ModuleType,
    target: EngineTarget,
    device: DeviceFacts,
    route: PrecisionRoute,
    onnx_path: Path,
    calibration: tuple[str, Any] | None,
    progress: BuildProgress | None,
) -> bytes:
    settings = target.settings
    trt_logger = trt.Logger(trt.Logger.WARNING)
    register_plugins(trt, trt_logger)
    builder = trt.Builder(trt_logger)
    network = builder.create_network(0)  # valid on 10 and 11 (shared/API_NOTES.md §1)
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [format_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
        raise BuildError(
            f"{target.onnx}: TensorRT's ONNX parser refused the graph:\n  " + "\n  ".join(errors)
        )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mib << 20)
    for flag in route.builder_flags(device.tensorrt_major):
        config.set_flag(getattr(trt.BuilderFlag, flag))
    profile = builder.create_optimization_profile()
    shapes = _profile_shapes(network, target)
    for name, (smallest, tuned, largest) in shapes.items():
        profile.set_shape(name, smallest, tuned, largest)
    if config.add_optimization_profile(profile) < 0:
        raise BuildError(f"{target.onnx}: TensorRT refused the optimization profile {shapes}")
    if settings.dla_core is not None:
        _use_dla(trt, builder, config, settings.dla_core, settings.precision)
    cache_file = timing_cache_file(target, device)
    cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    if not config.set_timing_cache(cache, False):
        logger.warning("%s: timing cache does not fit this build; starting a new one", cache_file)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    memory = None
    if route is PrecisionRoute.INT8_CALIBRATOR:
        assert calibration is not None
        identity, frames = calibration
        memory = open_cuda(settings.device_id)
        batch = min(8, target.max_batch)
        calibration_profile = builder.create_optimization_profile()
        for name, (_, tuned, _) in shapes.items():
            fixed = (batch, *tuned[1:])
            calibration_profile.set_shape(name, fixed, fixed, fixed)
        config.set_calibration_profile(calibration_profile)  # TensorRT 10 only, as the route
        cache_path = tensorrt_cache_file(
            target.engine.parent,
            target.onnx.stem,
            identity,
            device.tensorrt_version,
            file_sha256(target.onnx),
        )
        config.int8_calibrator = frames_calibrator(
            trt, memory, calibration_feed(target, frames), batch, cache_path
        )
    if progress is not None:
        config.progress_monitor = _monitor(trt, progress)
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if memory is not None:
            memory.close()
    if serialized is None:
        raise BuildError(
            f"{target.onnx}: TensorRT could not build the engine (its log above says why)"
        )
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache_file.with_name(cache_file.name + ".tmp")
    temporary.write_bytes(bytes(config.get_timing_cache().serialize()))
    temporary.replace(cache_file)
    return bytes(serialized)


def _profile_shapes(network: Any, target: EngineTarget) -> dict[str, tuple[tuple[int, ...], ...]]:
    """(min, opt, max) shape of every network input: the batch axis from the target's
    profile; any other open axis cannot be built for."""
    shapes: dict[str, tuple[tuple[int, ...], ...]] = {}
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        dims = tuple(tensor.shape)
        if any(d < 0 for d in dims[1:]):
            raise BuildError(
                f"{target.onnx}: input {tensor.name} has open axes {dims} besides the batch; "
                "export with a fixed image size (imgsz) or set the model's input_size"
            )
        per_batch = [(batch, *dims[1:]) for batch in target.batch_profile]
        shapes[tensor.name] = (per_batch[0], per_batch[1], per_batch[2])
    if FRAMES_INPUT not in shapes:
        raise BuildError(f"{target.onnx}: the prepared graph lost its {FRAMES_INPUT} input")
    return shapes


def _use_dla(trt: ModuleType, builder: Any, config: Any, core: int, precision: Precision) -> None:
    cores = builder.num_DLA_cores
    if core >= cores:
        raise BuildError(
            f"tensorrt.dla_core: {core} asked for; this device has {cores} DLA cores "
            "(only Jetson and DRIVE have any): remove dla_core"
        )
    if precision is Precision.FP32:
        raise BuildError("tensorrt.dla_core: DLA runs fp16 or int8 only; set tensorrt.precision")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)  # layers DLA cannot run go to the GPU


def _monitor(trt: ModuleType, progress: BuildProgress) -> Any:
    class Monitor(trt.IProgressMonitor):  # type: ignore[name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)  # the binding requires the base __init__

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            progress.phase_start(phase_name, parent_phase, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            progress.step_complete(phase_name, step)
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            progress.phase_finish(phase_name)

    return Monitor()
