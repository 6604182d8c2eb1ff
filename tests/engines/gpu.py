"""When the GPU tests can run: TensorRT importable and a CUDA device answering."""

from __future__ import annotations

import pytest


def cuda_device_or_reason() -> str | None:
    """None if cuda-python sees GPU 0, else why not (for the skip)."""
    from pipeline.infer.backends.cuda_memory import CudaError, cuda_device

    try:
        cuda_device(0)
    except CudaError as error:
        return f"no CUDA GPU here: {error}"
    return None


def tensorrt_or_reason() -> str | None:
    from engines.availability import TensorRtMissing, import_tensorrt

    try:
        import_tensorrt()
    except TensorRtMissing as error:
        return str(error)
    return cuda_device_or_reason()


def require_gpu() -> None:
    reason = cuda_device_or_reason()
    if reason:
        pytest.skip(reason)


def require_tensorrt() -> None:
    reason = tensorrt_or_reason()
    if reason:
        pytest.skip(reason)
