"""Which CUDA binding the engine code reaches the GPU through: cuda-python, else pycuda, else a
CudaError saying what to install. Before, `cuda_device()` and `cuda_runtime_version()` always
imported `cuda.bindings`: with only pycuda (or nothing) installed they raised
ModuleNotFoundError, which nothing caught, so `engines.build` printed a traceback and
`backend: auto` crashed instead of falling back to ONNX Runtime.

No pycuda and no GPU here: the pycuda tests run against `FakePyCudaDriver`, a hand-written
stand-in with only the calls cuda_memory.py makes (pycuda's own API: `Device(i).name()`,
`compute_capability()`, `total_memory()`, `get_version()`, `pycuda.driver.Error`)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from engines import build
from pipeline.config.backends import Backend
from pipeline.infer.backends.cuda_memory import (
    CudaDevice,
    CudaError,
    CudaMissing,
    PyCudaMemory,
    cuda_device,
    cuda_runtime_version,
    open_cuda,
)
from pipeline.infer.backends.selection import choose
from pipeline.infer.model_spec import read_model_spec
from tests.engines.sites import DEMO_MODEL, site

HIDDEN_CUDA_PYTHON = ("cuda.bindings", "cuda.bindings.runtime")
HIDDEN_PYCUDA = ("pycuda", "pycuda.driver")


def hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make `import name` fail as it does where the package is not installed."""
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


def fake_tensorrt_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TensorRT here: a module named tensorrt with the version attribute device_facts reads;
    these paths fail on CUDA before anything else of TensorRT is used."""
    fake = ModuleType("tensorrt")
    fake.__version__ = "10.16.0.72-fake"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorrt", fake)


class FakeAllocation:
    """pycuda's DeviceAllocation: int() is the device pointer, free() releases it."""

    def __init__(self, pointer: int, freed: list[int]) -> None:
        self.pointer, self.freed = pointer, freed

    def __int__(self) -> int:
        return self.pointer

    def free(self) -> None:
        self.freed.append(self.pointer)


class FakePyCudaDriver:
    """A stand-in for `pycuda.driver` on a machine with one GPU: records what was allocated,
    freed, pushed and popped; `fail` names a call that raises pycuda's Error instead."""

    class Error(Exception):
        pass

    class MemoryError(Error, MemoryError):  # as pycuda declares it: both bases
        pass

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.freed: list[int] = []
        self.pushed = 0
        self.next_pointer = 0x7000_0000
        driver = self

        class Device:
            def __init__(self, index: int) -> None:
                driver.maybe_fail("Device")
                self.index = index

            @staticmethod
            def count() -> int:
                return 1

            def name(self) -> str:
                return "NVIDIA Jetson AGX Orin"

            def compute_capability(self) -> tuple[int, int]:
                return (8, 7)

            def total_memory(self) -> int:
                return 64 * 2**30

            def retain_primary_context(self) -> Any:
                def push() -> None:
                    driver.pushed += 1

                def pop() -> None:
                    driver.maybe_fail("pop")
                    driver.pushed -= 1

                return SimpleNamespace(push=push, pop=pop)

        self.Device = Device

    def maybe_fail(self, call: str) -> None:
        if self.fail == call:
            error = self.MemoryError if call == "mem_alloc" else self.Error
            raise error(f"{call}: unknown error")

    def init(self) -> None:
        self.maybe_fail("init")

    def get_version(self) -> tuple[int, int, int]:
        return (12, 6, 0)

    def Stream(self) -> Any:  # pycuda spells it so
        return SimpleNamespace(handle=0x5150, synchronize=lambda: None)

    def pagelocked_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        self.maybe_fail("pagelocked_empty")
        return np.empty(shape, dtype)

    def mem_alloc(self, nbytes: int) -> Any:
        self.maybe_fail("mem_alloc")
        pointer, self.next_pointer = self.next_pointer, self.next_pointer + nbytes
        return FakeAllocation(pointer, self.freed)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Only pycuda here: cuda-python hidden, this object as `pycuda.driver`."""
        hide(monkeypatch, *HIDDEN_CUDA_PYTHON)
        package = ModuleType("pycuda")
        package.VERSION_TEXT = "2025.1-fake"  # type: ignore[attr-defined]
        package.driver = self  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "pycuda", package)
        monkeypatch.setitem(sys.modules, "pycuda.driver", self)


@pytest.fixture
def pycuda_only(monkeypatch: pytest.MonkeyPatch) -> FakePyCudaDriver:
    driver = FakePyCudaDriver()
    driver.install(monkeypatch)
    return driver


@pytest.mark.parametrize(
    "call",
    [lambda: cuda_device(0), cuda_runtime_version, lambda: open_cuda(0)],
    ids=["cuda_device", "cuda_runtime_version", "open_cuda"],
)
def test_without_either_binding_each_entry_says_what_to_install(monkeypatch, call):
    hide(monkeypatch, *HIDDEN_CUDA_PYTHON, *HIDDEN_PYCUDA)
    with pytest.raises(CudaMissing) as raised:
        call()
    message = str(raised.value)
    assert isinstance(raised.value, CudaError)  # what engines.build and selection catch
    assert message.startswith("neither cuda-python (")
    assert "pip install -r requirements-gpu.txt (CUDA 13 driver)" in message
    assert "-r requirements-gpu-cu12.txt (CUDA 12 driver, JetPack 6)" in message


def test_auto_without_a_cuda_binding_falls_back_to_onnx_runtime(monkeypatch):
    """It raised ModuleNotFoundError out of choose(): the site did not start."""
    fake_tensorrt_module(monkeypatch)
    hide(monkeypatch, *HIDDEN_CUDA_PYTHON, *HIDDEN_PYCUDA)
    config = site([{"name": "ppe", "path": str(DEMO_MODEL), "backend": "auto"}])
    model = config.detectors[0]
    choice = choose(config, model, read_model_spec(model), Path("site.yaml"))
    assert choice.backend is Backend.ONNXRUNTIME
    assert choice.reason.startswith("TensorRT cannot be used: neither cuda-python (")
    assert "requirements-gpu-cu12.txt" in choice.reason


def test_engines_build_without_a_cuda_binding_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    """It printed a ModuleNotFoundError traceback."""
    fake_tensorrt_module(monkeypatch)
    hide(monkeypatch, *HIDDEN_CUDA_PYTHON, *HIDDEN_PYCUDA)
    site_file = tmp_path / "site.yaml"
    site_file.write_text(
        f"site: t\nmodels:\n  - {{name: person, path: {DEMO_MODEL}, backend: tensorrt}}\n"
        f"tensorrt: {{engine_dir: {tmp_path / 'engines'}}}\n"
        "cameras:\n  - {id: CAM1, source: {kind: synthetic}}\n"
    )
    assert build.main([str(site_file), "--check"]) == build.EXIT_NO_TENSORRT
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("engines: neither cuda-python ("), lines
    assert "requirements-gpu.txt" in lines[0]


def test_with_only_pycuda_the_gpu_and_cuda_version_are_read_through_it(pycuda_only):
    assert cuda_device(0) == CudaDevice(0, "NVIDIA Jetson AGX Orin", "8.7", 64 * 2**30)
    assert cuda_runtime_version() == "12.6"  # the CUDA pycuda was built for
    with pytest.raises(CudaError, match=r"^GPU 1 asked for; this machine has 1$"):
        cuda_device(1)


def test_pycuda_errors_become_cuda_errors_naming_the_call(monkeypatch):
    driver = FakePyCudaDriver(fail="init")
    driver.install(monkeypatch)
    with pytest.raises(CudaError, match=r"^cuInit failed: init: unknown error$"):
        cuda_device(0)
    with pytest.raises(CudaError, match=r"^cuInit failed: init: unknown error$"):
        open_cuda(0)


def test_pycuda_memory_allocates_checks_and_frees(monkeypatch, caplog):
    driver = FakePyCudaDriver()
    driver.install(monkeypatch)
    memory = open_cuda(0)
    assert isinstance(memory, PyCudaMemory) and memory.name == "pycuda 2025.1-fake"
    assert memory.stream == 0x5150 and driver.pushed == 1
    assert memory.pinned((2, 3), np.dtype(np.float32)).shape == (2, 3)
    first, second = memory.device(64), memory.device(32)
    driver.fail = "mem_alloc"
    with pytest.raises(CudaError, match=r"^mem_alloc\(1024\) failed: mem_alloc: unknown error$"):
        memory.device(1024)
    driver.fail = "pop"
    caplog.set_level(logging.WARNING, logger="pipeline.infer.backends.cuda_memory")
    memory.close()
    assert driver.freed == [second, first]  # reverse order, all of them
    assert caplog.messages == ["cuCtxPopCurrent failed: pop: unknown error"]
    memory.close()  # a second close frees nothing twice
    assert driver.freed == [second, first]
