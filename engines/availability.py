"""Whether TensorRT (and ModelOpt) are here, and which package brings TensorRT to this machine."""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
from pathlib import Path
from types import ModuleType

JETSON_RELEASE_FILE = Path("/etc/nv_tegra_release")


class TensorRtMissing(RuntimeError):
    """`import tensorrt` failed; the message is one line that says what to install."""


def is_jetson(machine: str, release_file: Path = JETSON_RELEASE_FILE) -> bool:
    """A Jetson (L4T) board: aarch64 with the Tegra release file JetPack installs."""
    return machine == "aarch64" and release_file.is_file()


def tensorrt_install_hint(machine: str, jetson: bool) -> str:
    """What to install for TensorRT's Python package on a `machine` (platform.machine())."""
    # cuda-bindings' major must match the driver's CUDA major: requirements-gpu.txt pins 13.x,
    # requirements-gpu-cu12.txt 12.9.x (CUDA 12 servers, JetPack 6); make engines picks one.
    if jetson:
        return (
            "on a Jetson TensorRT comes with JetPack (JetPack 6: TensorRT 10; TensorRT 11.2-11.4 "
            "do not support JetPack): sudo apt install nvidia-jetpack; the Makefile's venv "
            "sees the system's tensorrt module on a Jetson (one made before JetPack was "
            "installed, or by hand without --system-site-packages, must be made again: rm -rf "
            ".venv && make engines, which installs requirements-gpu-cu12.txt: JetPack 6 is "
            "CUDA 12)"
        )
    if machine in ("x86_64", "AMD64", "aarch64", "arm64"):
        return (
            "pip install tensorrt-cu13 (or tensorrt-cu12 for a CUDA 12 driver: nvidia-smi's "
            "header shows the driver's CUDA version; the package fetches NVIDIA's libraries at "
            "install time) and pip install -r requirements-gpu.txt for CUDA 13, or "
            "-r requirements-gpu-cu12.txt for CUDA 12"
        )
    return f"TensorRT is published for x86_64 and aarch64 only; this machine is {machine}"


def this_machine_hint() -> str:
    machine = platform.machine()
    return tensorrt_install_hint(machine, is_jetson(machine))


def import_tensorrt() -> ModuleType:
    """The tensorrt module, or TensorRtMissing with the install hint for this machine."""
    try:
        return importlib.import_module("tensorrt")
    except ImportError as error:  # also a broken install: a library that does not load
        raise TensorRtMissing(
            f"TensorRT is not installed here ({error}); {this_machine_hint()}"
        ) from None


def modelopt_version() -> str | None:
    """nvidia-modelopt's version if its ONNX tools import, else None."""
    try:
        importlib.import_module("modelopt.onnx")
    except ImportError:
        return None
    try:
        return importlib.metadata.version("nvidia-modelopt")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
