"""TensorRtBackend's calls to TensorRT and to CUDA memory, off the GPU: tensors found by name
(no binding indices), `set_input_shape` with the real batch on every run, an address for every
I/O tensor, `execute_async_v3` on the backend's own stream, outputs cut to the real batch, and
batches above the profile's max run in chunks.

Regressions: the booleans `set_input_shape` and `set_tensor_address` return (False on failure
in TensorRT 10 and 11) were ignored, so a refused shape ran on with stale shapes; and a load
error raised after some buffers were allocated left them allocated.

No TensorRT and no GPU here, so the two system edges are hand-written: `FakeTensorRt` (the
module, with only the name-keyed engine and context API the backend uses: a call to the old
binding-index API would raise AttributeError) and `FakeGpuMemory` (the CudaMemory the backend
gets from `open_cuda`, device buffers kept as host bytes). Everything else is the project's
own code: the manifest, the staleness check, the model spec of a real ONNX file.
"""

from __future__ import annotations

import enum
import re
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

import engines.builder
import pipeline.infer.backends.tensorrt as tensorrt_backend
from engines.frames_input import FRAMES_INPUT
from engines.manifest import file_sha256, write_manifest
from engines.targets import model_target
from pipeline.infer.backends.base import ModelLoadError
from pipeline.infer.backends.cuda_memory import CudaDevice
from pipeline.infer.backends.tensorrt import TensorBindingError, TensorRtBackend
from pipeline.infer.model_spec import read_model_spec
from tests.engines.sites import H200, site
from tests.infer.onnx_models import NAMES, constant_detector

SIZE = 64
STREAM = 0x5EED  # the handle FakeGpuMemory.stream hands out
SIZES = "orig_target_sizes"


class DataType(enum.Enum):
    UINT8 = "uint8"
    FLOAT = "float32"
    INT64 = "int64"


class TensorIOMode(enum.Enum):
    INPUT = "input"
    OUTPUT = "output"


# The engine `make engines` builds from the RT-DETR test graph: name -> (mode, dtype, shape of
# one image). The uint8 frames replace the float image input (engines/frames_input.py).
TENSORS = {
    FRAMES_INPUT: (TensorIOMode.INPUT, DataType.UINT8, (SIZE, SIZE, 3)),
    SIZES: (TensorIOMode.INPUT, DataType.INT64, (2,)),
    "labels": (TensorIOMode.OUTPUT, DataType.INT64, (2,)),
    "boxes": (TensorIOMode.OUTPUT, DataType.FLOAT, (2, 4)),
    "scores": (TensorIOMode.OUTPUT, DataType.FLOAT, (2,)),
}
OUTPUTS = [name for name, (mode, _, _) in TENSORS.items() if mode is TensorIOMode.OUTPUT]


class FakeGpuMemory:
    """The backend's CudaMemory over host arrays: a device pointer is a key of `buffers`;
    copies and synchronisations are appended to the shared call `log`."""

    name = "fake gpu"

    def __init__(self, log: list[tuple[Any, ...]]) -> None:
        self.log = log
        self.buffers: dict[int, np.ndarray] = {}
        self.closed = False
        self._next_pointer = 0x10_000

    @property
    def stream(self) -> int:
        return STREAM

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return np.zeros(shape, dtype)

    def device(self, nbytes: int) -> int:
        pointer = self._next_pointer
        self._next_pointer += max(1, nbytes) + 256  # 256-byte aligned, as cudaMalloc is
        self.buffers[pointer] = np.zeros(max(1, nbytes), np.uint8)
        return pointer

    def to_device(self, device_pointer: int, host: np.ndarray) -> None:
        self.log.append(("to_device", device_pointer, host.shape))
        self.buffers[device_pointer][: host.nbytes] = host.reshape(-1).view(np.uint8)

    def to_host(self, host: np.ndarray, device_pointer: int) -> None:
        self.log.append(("to_host", device_pointer, host.shape))
        raw = self.buffers[device_pointer][: host.nbytes]
        host[...] = raw.view(host.dtype).reshape(host.shape)

    def synchronize(self) -> None:
        self.log.append(("synchronize",))

    def close(self) -> None:
        self.buffers.clear()
        self.closed = True


class FakeEngine:
    """ICudaEngine's name-keyed I/O (shared/API_NOTES.md §1). `profiles`: per input, the
    batch range its optimization profile takes; `refuse_address`: tensors whose address the
    context refuses; `data_dependent`: outputs whose shape stays -1 after the inputs'."""

    def __init__(
        self,
        memory: FakeGpuMemory,
        profiles: dict[str, tuple[int, int]],
        refuse_address: frozenset[str] = frozenset(),
        data_dependent: frozenset[str] = frozenset(),
    ) -> None:
        self.memory, self.profiles = memory, profiles
        self.refuse_address, self.data_dependent = refuse_address, data_dependent
        self.serialized = b""
        self.contexts: list[FakeContext] = []

    @property
    def num_io_tensors(self) -> int:
        return len(TENSORS)

    def get_tensor_name(self, index: int) -> str:
        return list(TENSORS)[index]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return TENSORS[name][0]

    def get_tensor_dtype(self, name: str) -> DataType:
        return TENSORS[name][1]

    def create_execution_context(self) -> FakeContext:
        self.contexts.append(FakeContext(self))
        return self.contexts[-1]


class FakeContext:
    """IExecutionContext: refuses what TensorRT refuses (returning False), and runs a graph
    whose outputs tell the images apart: labels and scores carry each image's first pixel,
    boxes its target width."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.log = engine.memory.log
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.log.append(("set_input_shape", name, tuple(shape)))
        low, high = self.engine.profiles.get(name, (1, 0))
        mode, _, per_image = TENSORS.get(name, (None, None, None))
        if mode is not TensorIOMode.INPUT or tuple(shape[1:]) != per_image:
            return False
        if not low <= shape[0] <= high:
            return False
        self.shapes[name] = tuple(shape)
        return True

    def set_tensor_address(self, name: str, pointer: int) -> bool:
        self.log.append(("set_tensor_address", name))
        if name not in TENSORS or not pointer or name in self.engine.refuse_address:
            return False
        self.addresses[name] = pointer
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        mode, _, per_image = TENSORS[name]
        if mode is TensorIOMode.INPUT:
            return self.shapes[name]
        if name in self.engine.data_dependent:
            per_image = (-1, *per_image[1:])
        return (self.shapes[FRAMES_INPUT][0], *per_image)

    def execute_async_v3(self, stream_handle: int) -> bool:
        self.log.append(("execute_async_v3", stream_handle))
        batch = self.shapes[FRAMES_INPUT][0]
        if set(self.addresses) != set(TENSORS) or self.shapes[SIZES][0] != batch:
            return False
        first_pixel = self._read(FRAMES_INPUT)[:, 0, 0, 0]
        width = self._read(SIZES)[:, 0]
        self._write("labels", np.repeat(first_pixel[:, None], 2, axis=1).astype(np.int64))
        self._write("scores", np.repeat(first_pixel[:, None] / 255, 2, axis=1).astype(np.float32))
        self._write(
            "boxes", np.broadcast_to(width[:, None, None], (batch, 2, 4)).astype(np.float32)
        )
        return True

    def _read(self, name: str) -> np.ndarray:
        shape, dtype = self.shapes[name], np.dtype(TENSORS[name][1].value)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        return self.engine.memory.buffers[self.addresses[name]][:nbytes].view(dtype).reshape(shape)

    def _write(self, name: str, value: np.ndarray) -> None:
        raw = np.ascontiguousarray(value).reshape(-1).view(np.uint8)
        self.engine.memory.buffers[self.addresses[name]][: raw.size] = raw


class FakeLogger:
    WARNING = "warning"

    def __init__(self, severity: str) -> None:
        self.severity = severity


def fake_tensorrt(engine: FakeEngine) -> ModuleType:
    """The `tensorrt` module as far as the backend uses it; its runtime deserializes `engine`."""
    trt = ModuleType("tensorrt")
    trt.__version__ = H200.tensorrt_version  # type: ignore[attr-defined]
    trt.DataType = DataType  # type: ignore[attr-defined]
    trt.TensorIOMode = TensorIOMode  # type: ignore[attr-defined]
    trt.nptype = lambda dtype: np.dtype(dtype.value).type  # type: ignore[attr-defined]
    trt.Logger = FakeLogger  # type: ignore[attr-defined]
    trt.init_libnvinfer_plugins = lambda logger, namespace: True  # type: ignore[attr-defined]

    def deserialize_cuda_engine(serialized: bytes) -> FakeEngine:
        engine.serialized = serialized
        return engine

    trt.Runtime = lambda logger: SimpleNamespace(  # type: ignore[attr-defined]
        deserialize_cuda_engine=deserialize_cuda_engine
    )
    return trt


def detr_model(folder: Path, batch: int | str) -> Path:
    """RT-DETR as its repository exports it (labels, boxes, scores, int64 target sizes)."""
    outputs = {
        "labels": np.array([[0, 1]], np.int64),
        "boxes": np.array([[[10, 20, 50, 90], [0, 0, 5, 5]]], np.float32),
        "scores": np.array([[0.9, 0.2]], np.float32),
    }
    shape = (batch, 3, SIZE, SIZE)
    return constant_detector(
        folder / "detr.onnx", outputs, shape, {"names": str(NAMES)}, size_input=SIZES
    )


class GpuEdge:
    """The fakes at the system edge, and TensorRtBackend loaded against them. `memory` and
    `engine` stay here when loading fails, to show what was freed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
        self.monkeypatch, self.folder = monkeypatch, folder
        self.memory = FakeGpuMemory([])
        self.log = self.memory.log
        self.engine = FakeEngine(self.memory, {})

    @property
    def context(self) -> FakeContext:
        return self.engine.contexts[-1]

    def load(
        self,
        fixed_batch: bool = False,
        profiles: dict[str, tuple[int, int]] | None = None,
        refuse_address: frozenset[str] = frozenset(),
        data_dependent: frozenset[str] = frozenset(),
    ) -> TensorRtBackend:
        """Write an up-to-date engine's files for the RT-DETR graph (dynamic batch with a
        profile max of 4, or a fixed batch of 4) and load it, at most 8 images per call."""
        onnx = detr_model(self.folder, 4 if fixed_batch else "batch")
        settings: dict[str, Any] = {"engine_dir": str(self.folder / "engines")}
        if not fixed_batch:
            settings["batch"] = {"max": 4}
        config = site([{"name": "detr", "path": str(onnx), "backend": "tensorrt"}], settings, 8)
        model = config.detectors[0]
        spec = read_model_spec(model)
        target = model_target(config, model, spec)
        target.engine.parent.mkdir()
        target.engine.write_bytes(b"serialized engine (fake)")
        manifest = target.manifest_for(
            H200, file_sha256(onnx), None, "fp16: fake", "2026-12-02T00:00:00+00:00", 1.0
        )
        write_manifest(target.manifest, manifest)

        limits = (4, 4) if fixed_batch else (1, 4)
        engine = self.engine
        engine.profiles = {FRAMES_INPUT: limits, SIZES: limits, **(profiles or {})}
        engine.refuse_address, engine.data_dependent = refuse_address, data_dependent
        patch = self.monkeypatch
        patch.setitem(sys.modules, "tensorrt", fake_tensorrt(engine))
        gpu = CudaDevice(0, H200.gpu_name, H200.compute_capability, 141 * 2**30)
        patch.setattr(engines.builder, "cuda_device", lambda device_id: gpu)
        patch.setattr(engines.builder, "cuda_runtime_version", lambda: H200.cuda_version)
        patch.setattr(tensorrt_backend, "open_cuda", lambda device_id: self.memory)
        return TensorRtBackend(config, model, spec, 8, self.folder / "site.yaml")

    def freed_everything(self) -> bool:
        return self.memory.closed and not self.memory.buffers


@pytest.fixture
def edge(monkeypatch, tmp_path) -> GpuEdge:
    return GpuEdge(monkeypatch, tmp_path)


def frames(count: int) -> np.ndarray:
    """`count` frames whose first pixel is 10, 20, 30...: each output row says its image."""
    images = np.zeros((count, SIZE, SIZE, 3), np.uint8)
    images[:, 0, 0, 0] = 10 * np.arange(1, count + 1)
    return images


def one_run(context: FakeContext, batch: int) -> list[tuple[Any, ...]]:
    """The calls of one run of `batch` images, in order."""
    return [
        ("set_input_shape", FRAMES_INPUT, (batch, SIZE, SIZE, 3)),
        ("set_input_shape", SIZES, (batch, 2)),
        ("to_device", context.addresses[FRAMES_INPUT], (batch, SIZE, SIZE, 3)),
        ("execute_async_v3", STREAM),
        ("to_host", context.addresses["labels"], (batch, 2)),
        ("to_host", context.addresses["boxes"], (batch, 2, 4)),
        ("to_host", context.addresses["scores"], (batch, 2)),
        ("synchronize",),
    ]


def test_a_batch_runs_through_name_keyed_calls_on_the_backends_stream(edge):
    backend = edge.load()
    assert edge.engine.serialized == b"serialized engine (fake)"
    assert backend.name == "tensorrt fp16"
    # Allocated once, at the profile's max; every I/O tensor has its own device buffer.
    assert ("set_input_shape", FRAMES_INPUT, (4, SIZE, SIZE, 3)) in edge.log
    addresses = edge.context.addresses
    assert set(addresses) == set(TENSORS)
    assert len(set(addresses.values())) == len(TENSORS)
    assert set(addresses.values()) <= set(edge.memory.buffers)
    edge.log.clear()

    result = backend.infer(frames(3))
    assert edge.log == one_run(edge.context, 3)
    shapes = {name: value.shape for name, value in result.items()}
    assert shapes == {"labels": (3, 2), "boxes": (3, 2, 4), "scores": (3, 2)}
    np.testing.assert_array_equal(result["labels"][:, 0], [10, 20, 30])
    np.testing.assert_array_equal(result["boxes"][:, :, 0], np.full((3, 2), SIZE))
    backend.close()
    assert edge.freed_everything()


def test_a_batch_above_the_profile_max_runs_in_chunks_of_it(edge):
    backend = edge.load()
    edge.log.clear()
    result = backend.infer(frames(6))
    assert edge.log == one_run(edge.context, 4) + one_run(edge.context, 2)
    np.testing.assert_array_equal(result["labels"][:, 1], [10, 20, 30, 40, 50, 60])
    assert result["boxes"].shape == (6, 2, 4) and result["scores"].shape == (6, 2)


def test_a_fixed_batch_engine_runs_its_batch_and_returns_the_real_one(edge):
    backend = edge.load(fixed_batch=True)
    edge.log.clear()
    result = backend.infer(frames(3))
    assert edge.log == one_run(edge.context, 4)  # the last image repeated up to 4
    np.testing.assert_array_equal(result["labels"][:, 0], [10, 20, 30])
    assert result["scores"].shape == (3, 2)


@pytest.mark.parametrize(("name", "shape"), [(FRAMES_INPUT, (4, SIZE, SIZE, 3)), (SIZES, (4, 2))])
def test_a_shape_refused_at_load_names_the_tensor_and_frees_every_buffer(edge, name, shape):
    with pytest.raises(ModelLoadError) as raised:
        edge.load(profiles={name: (1, 2)})
    message = str(raised.value)
    assert message.startswith(f"{edge.folder / 'engines' / 'detr.fp16.engine'}: ")
    assert f"TensorRT refused shape {shape} for input {name}: outside the engine's " in message
    assert f"rebuild it: python -m engines.build {edge.folder / 'site.yaml'} --force" in message
    assert edge.freed_everything()


def test_an_address_refused_at_load_names_the_tensor_and_frees_every_buffer(edge):
    with pytest.raises(ModelLoadError) as raised:
        edge.load(refuse_address=frozenset({"boxes"}))
    assert re.search(
        r"\.engine: TensorRT refused device address 0x[0-9a-f]+ for tensor boxes \(not an I/O "
        r"tensor of this engine, or a null or misaligned pointer\)$",
        str(raised.value),
    )
    assert edge.freed_everything()


def test_a_load_error_after_allocating_frees_what_was_allocated(edge):
    with pytest.raises(ModelLoadError, match=r"output labels has a data-dependent shape \(4, -1\)"):
        edge.load(data_dependent=frozenset({"labels"}))
    assert edge.freed_everything()


@pytest.mark.parametrize(("name", "shape"), [(FRAMES_INPUT, (1, SIZE, SIZE, 3)), (SIZES, (1, 2))])
def test_a_shape_refused_at_run_names_the_tensor(edge, name, shape):
    backend = edge.load(profiles={name: (2, 4)})  # loads at 4; a single image is refused
    with pytest.raises(TensorBindingError) as raised:
        backend.infer(frames(1))
    assert str(raised.value).startswith(f"TensorRT refused shape {shape} for input {name}: ")
    assert ("execute_async_v3", STREAM) not in edge.log
