"""Host and device memory, copies and one stream, for the TensorRT backend and the engine builder.

Through cuda-python (`cuda.bindings.runtime`, NVIDIA's current binding; the old `cuda.cudart`
module was removed in 13.0, shared/API_NOTES.md §2), or pycuda where only it is installed.
Every call's status is checked: cuda-python returns `(error, *values)` and never raises, so an
unchecked call would carry on with a null pointer. A `CudaMemory` owns what it allocates and
frees all of it in `close()`, in reverse order.
"""

from __future__ import annotations

import ctypes
import enum
import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)


class CudaError(RuntimeError):
    """A CUDA call failed; the message names the call and CUDA's error."""


class CudaMissing(CudaError):
    """Neither cuda-python nor pycuda can be imported."""


# cuda-bindings' major must match the driver's CUDA major: 13.x needs a CUDA 13 driver, 12.x
# serves CUDA 12 servers and JetPack 6 (`make engines` picks the file from nvidia-smi).
INSTALL_CUDA_BINDINGS = (
    "pip install -r requirements-gpu.txt (CUDA 13 driver) or -r requirements-gpu-cu12.txt "
    "(CUDA 12 driver, JetPack 6); make engines picks the one for this machine"
)


class CudaBinding(enum.Enum):
    """The Python binding that reaches CUDA here."""

    CUDA_PYTHON = "cuda-python"
    PYCUDA = "pycuda"


def cuda_binding() -> CudaBinding:
    """cuda-python where `cuda.bindings.runtime` imports, else pycuda where `pycuda.driver`
    does; CudaMissing, saying what to install, where neither does."""
    try:
        importlib.import_module("cuda.bindings.runtime")
    except ImportError as cuda_python_error:
        try:
            importlib.import_module("pycuda.driver")
        except ImportError as pycuda_error:
            raise CudaMissing(
                f"neither cuda-python ({cuda_python_error}) nor pycuda ({pycuda_error}) "
                f"imports; {INSTALL_CUDA_BINDINGS}"
            ) from None
        return CudaBinding.PYCUDA
    return CudaBinding.CUDA_PYTHON


def _pycuda_driver() -> ModuleType:
    return importlib.import_module("pycuda.driver")


@contextmanager
def pycuda_errors(driver: ModuleType, call: str) -> Iterator[None]:
    """pycuda raises its own `pycuda.driver.Error` (MemoryError, LogicError, RuntimeError and
    LaunchError derive from it): turn it into CudaError naming the call, as `check` does for
    cuda-python's codes."""
    try:
        yield
    except driver.Error as error:
        raise CudaError(f"{call} failed: {error}") from None


@dataclass(frozen=True)
class CudaDevice:
    """One GPU as the engine manifest records it."""

    index: int
    name: str
    compute_capability: str  # "8.6"
    total_memory: int  # bytes


def check(result: Any, call: str) -> Any:
    """Unpack a cuda-python result `(error, *values)`: raise CudaError unless the error is
    cudaSuccess (0); return None, the one value, or the tuple of values (as the TensorRT
    samples' `cuda_call` does, shared/API_NOTES.md §2)."""
    if not isinstance(result, tuple) or not result:
        raise TypeError(f"{call}: expected cuda-python's (error, *values) tuple, got {result!r}")
    error, values = result[0], result[1:]
    code = int(getattr(error, "value", error) or 0) if error is not None else -1
    if code != 0:
        name = getattr(error, "name", f"error {code}")
        raise CudaError(f"{call} failed: {name} ({_error_string(error)})")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _error_string(error: Any) -> str:
    try:
        from cuda.bindings import runtime as cudart

        status, text = cudart.cudaGetErrorString(error)
        return text.decode() if int(status) == 0 else "no description"
    except Exception:  # the description is a courtesy; the code above already says what failed
        return "no description"


class CudaMemory(Protocol):
    """What the TensorRT backend needs from CUDA. Pointers are plain ints."""

    name: str

    @property
    def stream(self) -> int: ...

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray: ...

    def device(self, nbytes: int) -> int: ...

    def to_device(self, device_pointer: int, host: np.ndarray) -> None: ...

    def to_host(self, host: np.ndarray, device_pointer: int) -> None: ...

    def synchronize(self) -> None: ...

    def close(self) -> None: ...


def open_cuda(device_id: int) -> CudaMemory:
    """cuda-python's runtime on `device_id`, else pycuda's; CudaMissing if neither imports."""
    if cuda_binding() is CudaBinding.PYCUDA:
        return PyCudaMemory(device_id)
    return CudaPythonMemory(device_id)


def pinned_view(pointer: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A numpy array over `nbytes` of host memory at `pointer` (no copy, no ownership)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = (ctypes.c_uint8 * nbytes).from_address(pointer)
    return np.frombuffer(memoryview(raw), dtype=dtype).reshape(shape)


class CudaPythonMemory:
    """cuda-python runtime: pinned host memory (cudaMallocHost), device memory (cudaMalloc),
    asynchronous copies on one non-default stream (execute_async_v3's docstring warns
    against the default stream, shared/API_NOTES.md §1)."""

    def __init__(self, device_id: int) -> None:
        import cuda.bindings
        from cuda.bindings import runtime as cudart

        self._cudart = cudart
        self.name = f"cuda-python {cuda.bindings.__version__}"
        self._device_buffers: list[int] = []
        self._host_buffers: list[int] = []
        self._stream: Any = None
        check(cudart.cudaSetDevice(device_id), f"cudaSetDevice({device_id})")
        self._stream = check(cudart.cudaStreamCreate(), "cudaStreamCreate")

    @property
    def stream(self) -> int:
        """The stream's native handle as an int, what execute_async_v3 takes (int(stream) is
        deprecated in cuda-bindings 13: get_cuda_native_handle, shared/API_NOTES.md §2)."""
        try:
            from cuda.bindings.utils import get_cuda_native_handle
        except ImportError:  # cuda-bindings 12.x
            return int(self._stream)
        return int(get_cuda_native_handle(self._stream))

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        nbytes = max(1, int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
        pointer = check(self._cudart.cudaMallocHost(nbytes), f"cudaMallocHost({nbytes})")
        self._host_buffers.append(pointer)
        return pinned_view(pointer, shape, dtype)

    def device(self, nbytes: int) -> int:
        pointer = check(self._cudart.cudaMalloc(max(1, nbytes)), f"cudaMalloc({nbytes})")
        self._device_buffers.append(pointer)
        return int(pointer)

    def to_device(self, device_pointer: int, host: np.ndarray) -> None:
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        check(
            self._cudart.cudaMemcpyAsync(
                device_pointer, host.ctypes.data, host.nbytes, kind, self._stream
            ),
            "cudaMemcpyAsync(host to device)",
        )

    def to_host(self, host: np.ndarray, device_pointer: int) -> None:
        kind = self._cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        check(
            self._cudart.cudaMemcpyAsync(
                host.ctypes.data, device_pointer, host.nbytes, kind, self._stream
            ),
            "cudaMemcpyAsync(device to host)",
        )

    def synchronize(self) -> None:
        check(self._cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")

    def close(self) -> None:
        cudart = self._cudart
        steps = [(cudart.cudaFree, pointer, "cudaFree") for pointer in self._device_buffers]
        steps += [(cudart.cudaFreeHost, pointer, "cudaFreeHost") for pointer in self._host_buffers]
        if self._stream is not None:
            steps.append((cudart.cudaStreamDestroy, self._stream, "cudaStreamDestroy"))
        self._device_buffers, self._host_buffers, self._stream = [], [], None
        for call, handle, name in reversed(steps):
            try:
                check(call(handle), name)
            except CudaError as error:  # keep freeing the rest; say what leaked
                logger.warning("%s", error)


class PyCudaMemory:
    """The same through pycuda, for machines where only it is installed: the device's
    primary context is pushed on this thread for the life of the object. pycuda raises where
    cuda-python returns codes; each call's error becomes CudaError naming the call."""

    def __init__(self, device_id: int) -> None:
        pycuda = importlib.import_module("pycuda")
        driver = _pycuda_driver()
        self._driver = driver
        self.name = f"pycuda {pycuda.VERSION_TEXT}"
        self._device_buffers: list[Any] = []
        self._host_buffers: list[np.ndarray] = []
        self._context: Any = None
        with pycuda_errors(driver, "cuInit"):
            driver.init()
        with pycuda_errors(driver, f"cuDevicePrimaryCtxRetain({device_id})"):
            context = driver.Device(device_id).retain_primary_context()
        with pycuda_errors(driver, "cuCtxPushCurrent"):
            context.push()
        self._context = context  # pushed: close() pops it
        try:
            with pycuda_errors(driver, "cuStreamCreate"):
                self._stream_object = driver.Stream()
        except CudaError:
            self.close()
            raise

    @property
    def stream(self) -> int:
        return int(self._stream_object.handle)

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        with pycuda_errors(self._driver, f"pagelocked_empty({nbytes})"):
            array = self._driver.pagelocked_empty(shape, dtype)
        self._host_buffers.append(array)
        return array

    def device(self, nbytes: int) -> int:
        with pycuda_errors(self._driver, f"mem_alloc({nbytes})"):
            allocation = self._driver.mem_alloc(max(1, nbytes))
        self._device_buffers.append(allocation)
        return int(allocation)

    def to_device(self, device_pointer: int, host: np.ndarray) -> None:
        with pycuda_errors(self._driver, "memcpy_htod_async"):
            self._driver.memcpy_htod_async(device_pointer, host, self._stream_object)

    def to_host(self, host: np.ndarray, device_pointer: int) -> None:
        with pycuda_errors(self._driver, "memcpy_dtoh_async"):
            self._driver.memcpy_dtoh_async(host, device_pointer, self._stream_object)

    def synchronize(self) -> None:
        with pycuda_errors(self._driver, "cuStreamSynchronize"):
            self._stream_object.synchronize()

    def close(self) -> None:
        allocations, self._device_buffers, self._host_buffers = self._device_buffers, [], []
        context, self._context = self._context, None
        steps = [(allocation.free, "mem_free") for allocation in reversed(allocations)]
        if context is not None:
            steps.append((context.pop, "cuCtxPopCurrent"))
        for call, name in steps:
            try:
                with pycuda_errors(self._driver, name):
                    call()
            except CudaError as error:  # keep freeing the rest; say what leaked
                logger.warning("%s", error)


def cuda_device(device_id: int) -> CudaDevice:
    """Name, compute capability and memory of GPU `device_id` through cuda-python or pycuda;
    CudaError if there is none (on a machine without a driver the count call itself reports
    the error), CudaMissing if neither binding imports."""
    if cuda_binding() is CudaBinding.PYCUDA:
        return _pycuda_device(device_id)
    from cuda.bindings import runtime as cudart

    count = check(cudart.cudaGetDeviceCount(), "cudaGetDeviceCount")
    _check_index(device_id, count)
    prop = check(cudart.cudaGetDeviceProperties(device_id), f"cudaGetDeviceProperties({device_id})")
    name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
    return CudaDevice(
        device_id, name.rstrip("\x00"), f"{prop.major}.{prop.minor}", int(prop.totalGlobalMem)
    )


def _check_index(device_id: int, count: int) -> None:
    if not 0 <= device_id < count:
        raise CudaError(f"GPU {device_id} asked for; this machine has {count}")


def _pycuda_device(device_id: int) -> CudaDevice:
    driver = _pycuda_driver()
    with pycuda_errors(driver, "cuInit"):
        driver.init()
    with pycuda_errors(driver, "cuDeviceGetCount"):
        count = int(driver.Device.count())
    _check_index(device_id, count)
    with pycuda_errors(driver, f"cuDeviceGet({device_id})"):
        device = driver.Device(device_id)
        major, minor = device.compute_capability()
        name, total_memory = str(device.name()), int(device.total_memory())
    return CudaDevice(device_id, name, f"{major}.{minor}", total_memory)


def cuda_runtime_version() -> str:
    """The CUDA runtime's version as "major.minor": cuda-python's cudaRuntimeGetVersion
    (1000*major+10*minor); with pycuda, which has no runtime, the CUDA it was built for
    (`pycuda.driver.get_version()`, (major, minor, revision)): the toolkit its calls follow,
    not the driver's newest CUDA (get_driver_version), which can be a major ahead."""
    if cuda_binding() is CudaBinding.PYCUDA:
        major, minor, *_ = _pycuda_driver().get_version()
        return f"{major}.{minor}"
    from cuda.bindings import runtime as cudart

    version = int(check(cudart.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"))
    return f"{version // 1000}.{version % 1000 // 10}"
