"""The CUDA memory of the TensorRT backend: every status checked, what cuda-python reports
named in the error. Without a GPU the real cuda-python answers each call with an error code
(it never raises), which is what these tests read; with one, buffers go there and back."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

try:
    from cuda.bindings import runtime as cudart
except ImportError:  # part of the suite: fail, saying how to get it
    pytest.fail("cuda-python is not installed: pip install -r requirements-gpu.txt", pytrace=False)

from pipeline.infer.backends.cuda_memory import (
    CudaError,
    CudaPythonMemory,
    check,
    cuda_device,
    cuda_runtime_version,
    open_cuda,
    pinned_view,
)
from tests.engines.gpu import cuda_device_or_reason, require_gpu

SUCCESS = cudart.cudaError_t.cudaSuccess


@pytest.mark.parametrize(
    ("result", "value"),
    [((SUCCESS,), None), ((SUCCESS, 7), 7), ((SUCCESS, 7, b"x"), (7, b"x"))],
)
def test_successful_results_unpack(result, value):
    assert check(result, "cudaSomething") == value


def test_an_error_names_the_call_the_code_and_what_it_means():
    error = cudart.cudaError_t.cudaErrorMemoryAllocation
    with pytest.raises(CudaError) as raised:
        check((error, None), "cudaMalloc(1024)")
    assert str(raised.value) == "cudaMalloc(1024) failed: cudaErrorMemoryAllocation (out of memory)"


def test_a_result_that_is_not_cuda_pythons_is_refused():
    with pytest.raises(TypeError, match=r"cudaMalloc: expected cuda-python's \(error, \*values\)"):
        check(0, "cudaMalloc")


def test_the_runtime_version_reads_without_a_driver():
    major, minor = cuda_runtime_version().split(".")
    assert int(major) >= 12 and 0 <= int(minor) < 100


def test_a_pinned_view_is_the_memory_itself():
    buffer = (ctypes.c_uint8 * 48)()
    view = pinned_view(ctypes.addressof(buffer), (2, 2, 3), np.dtype(np.float32))
    view[1, 1, 2] = 1.5
    assert np.frombuffer(bytes(buffer), np.float32)[-1] == 1.5


def test_without_a_gpu_the_first_call_fails_with_cudas_reason():
    if cuda_device_or_reason() is None:
        pytest.skip("a GPU is here: test_buffers_go_to_the_device_and_back covers it")
    with pytest.raises(CudaError, match=r"^cudaGetDeviceCount failed: cudaError\w+ \(.+\)$"):
        cuda_device(0)
    with pytest.raises(CudaError, match=r"^cudaSetDevice\(0\) failed: cudaError\w+"):
        open_cuda(0)


@pytest.mark.gpu
def test_buffers_go_to_the_device_and_back():
    require_gpu()
    device = cuda_device(0)
    assert device.total_memory > 0 and "." in device.compute_capability
    memory = CudaPythonMemory(0)
    try:
        host = memory.pinned((4, 320, 320, 3), np.dtype(np.uint8))
        host[...] = np.random.default_rng(0).integers(0, 255, host.shape, dtype=np.uint8)
        pointer = memory.device(host.nbytes)
        back = memory.pinned(host.shape, np.dtype(np.uint8))
        memory.to_device(pointer, host)
        memory.to_host(back, pointer)
        memory.synchronize()
        np.testing.assert_array_equal(back, host)
        assert memory.stream != 0  # our own stream, not the default one
    finally:
        memory.close()
    memory.close()  # a second close frees nothing twice
