"""Which cuda-bindings `make engines` installs: its major must match the driver's CUDA major.
requirements-gpu.txt pinned cuda-bindings 13.x for every machine, which does not load on the
CUDA 12 drivers of JetPack 6 and most TensorRT 10 servers; now the Makefile takes the major from
nvidia-smi's header (12 on a Jetson, 13 without a driver) and installs the matching file.

`make -n` prints the recipes without running them; the nvidia-smi it asks is a script on PATH
(no driver here) and the Jetson release file one in a temporary folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from engines.availability import tensorrt_install_hint
from tests.engines.sites import REPO

# The header line of nvidia-smi 550 on a CUDA 12.4 driver.
HEADER = "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: {cuda}     |"


def planned_install(
    tmp_path: Path, cuda: str | None, jetson: bool, overrides: tuple[str, ...]
) -> str:
    """The requirements file `make -n engines` would install, with this machine faked."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed: apt-get install make", pytrace=False)
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    if cuda is not None:
        script = bin_folder / "nvidia-smi"
        script.write_text(f"#!/bin/sh\necho '{HEADER.format(cuda=cuda)}'\n")
        script.chmod(0o755)
    release = tmp_path / "nv_tegra_release"
    if jetson:
        release.write_text("# R36 (release), REVISION: 4.0\n")
    command = ["make", "-n", "engines", f"VENV={tmp_path / 'venv'}", f"JETSON_RELEASE={release}"]
    result = subprocess.run(
        [*command, *overrides],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        # Only the fake nvidia-smi, never this machine's.
        env={**os.environ, "PATH": f"{bin_folder}:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    (install,) = re.findall(r"pip install --quiet -r (requirements-gpu\S*\.txt)", result.stdout)
    return install


@pytest.mark.parametrize(
    ("cuda", "jetson", "overrides", "installed"),
    [
        ("12.4", False, (), "requirements-gpu-cu12.txt"),
        ("13.0", False, (), "requirements-gpu.txt"),
        (None, False, (), "requirements-gpu.txt"),  # no driver: a CPU machine
        (None, True, (), "requirements-gpu-cu12.txt"),  # JetPack 6 is CUDA 12
        ("13.0", False, ("CUDA_MAJOR=12",), "requirements-gpu-cu12.txt"),
        ("12.4", False, ("CUDA_MAJOR=13",), "requirements-gpu.txt"),
    ],
)
def test_make_engines_installs_the_bindings_of_the_drivers_cuda_major(
    tmp_path, cuda, jetson, overrides, installed
):
    assert planned_install(tmp_path, cuda, jetson, overrides) == installed


def pinned_major(requirements: str) -> tuple[int, int]:
    text = (REPO / requirements).read_text()
    (version,) = re.findall(r"^cuda-bindings==(\d+)\.(\d+)\.\d+$", text, re.MULTILINE)
    return int(version[0]), int(version[1])


def test_each_requirements_file_pins_bindings_of_its_cuda_major():
    assert pinned_major("requirements-gpu.txt")[0] == 13
    assert pinned_major("requirements-gpu-cu12.txt") == (12, 9)  # as TensorRT's samples pin


@pytest.mark.parametrize(
    ("jetson", "named"),
    [
        (False, ("requirements-gpu.txt for CUDA 13", "-r requirements-gpu-cu12.txt for CUDA 12")),
        (True, ("installs requirements-gpu-cu12.txt: JetPack 6 is CUDA 12", "rm -rf .venv")),
    ],
)
def test_the_install_hint_names_the_requirements_file_per_cuda_major(jetson, named):
    hint = tensorrt_install_hint("aarch64", jetson)
    for words in named:
        assert words in hint
