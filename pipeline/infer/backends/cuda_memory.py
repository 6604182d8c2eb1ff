"""Host and device memory, copies and one stream, for the TensorRT backend and the engine builder.

Through cuda-python (`cuda.bindings.runtime`, NVIDIA's current binding; the old `cuda.cudart`
module was removed in 13.0, shared/API_NOTES.md §2), or pycuda where only it is installed.
Every call's status is checked: cuda-python returns `(error, *values)` and never raises, so an
unchecked call would carry on with a null pointer. A `CudaMemory` owns what it allocates and
frees all of it in `close()`, in reverse order.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)


class CudaError(RuntimeError):
    """A CUDA call failed; the message names the call and CUDA's error."""


class CudaMissing(CudaError):
    """Neither cuda-python nor pycuda can be imported."""


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
    try:
        from cuda.bindings import runtime  # noqa: F401
    except ImportError as cuda_python_error:
        try:
            import pycuda.driver  # noqa: F401
        except ImportError:
            raise CudaMissing(
                f"cuda-python is not installed ({cuda_python_error}); "
                "pip install -r requirements-gpu.txt"
            ) from None
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
    primary context is pushed on this thread for the life of the object."""

    def __init__(self, device_id: int) -> None:
        import pycuda
        import pycuda.driver as driver

        self._driver = driver
        self.name = f"pycuda {pycuda.VERSION_TEXT}"
        driver.init()
        self._context = driver.Device(device_id).retain_primary_context()
        self._context.push()
        self._stream_object = driver.Stream()
        self._device_buffers: list[Any] = []
        self._host_buffers: list[np.ndarray] = []

    @property
    def stream(self) -> int:
        return int(self._stream_object.handle)

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        array = self._driver.pagelocked_empty(shape, dtype)
        self._host_buffers.append(array)
        return array

    def device(self, nbytes: int) -> int:
        allocation = self._driver.mem_alloc(max(1, nbytes))
        self._device_buffers.append(allocation)
        return int(allocation)

    def to_device(self, device_pointer: int, host: np.ndarray) -> None:
        self._driver.memcpy_htod_async(device_pointer, host, self._stream_object)

    def to_host(self, host: np.ndarray, device_pointer: int) -> None:
        self._driver.memcpy_dtoh_async(host, device_pointer, self._stream_object)

    def synchronize(self) -> None:
        self._stream_object.synchronize()

    def close(self) -> None:
        for allocation in reversed(self._device_buffers):
            allocation.free()
        self._device_buffers, self._host_buffers = [], []
        self._context.pop()


def cuda_device(device_id: int) -> CudaDevice:
    """Name and compute capability of GPU `device_id` (cuda-python), CudaError if there is
    none: on a machine without a driver the count call itself reports the error."""
    from cuda.bindings import runtime as cudart

    count = check(cudart.cudaGetDeviceCount(), "cudaGetDeviceCount")
    if not 0 <= device_id < count:
        raise CudaError(f"GPU {device_id} asked for; this machine has {count}")
    prop = check(cudart.cudaGetDeviceProperties(device_id), f"cudaGetDeviceProperties({device_id})")
    name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
    return CudaDevice(
        device_id, name.rstrip("\x00"), f"{prop.major}.{prop.minor}", int(prop.totalGlobalMem)
    )


def cuda_runtime_version() -> str:
    """The CUDA runtime's version as "major.minor" (cudaRuntimeGetVersion: 1000*major+10*minor)."""
    from cuda.bindings import runtime as cudart

    version = int(check(cudart.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"))
    return f"{version // 1000}.{version % 1000 // 10}"
