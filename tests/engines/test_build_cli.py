"""`python -m engines.build` as a user runs it: on a machine without TensorRT it says so in one
line and what to install; a bad site file is named with its line; a site with no engine
model has nothing to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engines.availability import is_jetson, tensorrt_install_hint
from engines.builder import format_parser_error
from tests.engines.sites import DEMO_MODEL, REPO

SITE = """\
site: enginetest
models:
  - name: person
    path: {model}
    backend: {backend}
tensorrt:
  engine_dir: {engines}
cameras:
  - id: CAM1
    source: {{kind: synthetic}}
"""


def run_build(tmp_path: Path, *flags: str, backend: str = "tensorrt", model: Path = DEMO_MODEL):
    site = tmp_path / "site.yaml"
    site.write_text(SITE.format(model=model, backend=backend, engines=tmp_path / "engines"))
    return subprocess.run(
        [sys.executable, "-m", "engines.build", str(site), *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def tensorrt_installed() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("flags", [(), ("--check",)])
def test_without_tensorrt_one_line_and_exit_3(tmp_path, flags):
    if tensorrt_installed():
        pytest.skip("TensorRT is installed here: tests/engines/test_gpu.py covers the build")
    result = run_build(tmp_path, *flags)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "engines: TensorRT is not installed here (No module named 'tensorrt'); "
    )
    assert "pip install tensorrt-cu13" in lines[0] or "JetPack" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "engines").exists()


def test_a_site_without_engine_models_has_nothing_to_build(tmp_path):
    result = run_build(tmp_path, "--check", backend="onnxruntime")
    assert result.returncode == 0, result.stderr
    assert "no model has backend tensorrt or auto; no engine to build" in result.stdout


def test_a_bad_site_file_is_named_with_its_line(tmp_path):
    result = run_build(tmp_path, backend="tensorrtt")
    assert result.returncode == 2
    assert f"{tmp_path / 'site.yaml'}:5 models[0].backend" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_model_file_is_named(tmp_path):
    result = run_build(tmp_path, model=tmp_path / "absent.onnx")
    assert result.returncode == 2
    assert f"engines: {tmp_path / 'absent.onnx'}: model file not found" in result.stderr


@pytest.mark.parametrize(
    ("machine", "jetson", "expected"),
    [
        ("x86_64", False, "pip install tensorrt-cu13 (or tensorrt-cu12 for a CUDA 12 driver"),
        ("aarch64", False, "pip install tensorrt-cu13"),  # Grace/SBSA servers
        ("aarch64", True, "on a Jetson TensorRT comes with JetPack (JetPack 6: TensorRT 10"),
        (
            "riscv64",
            False,
            "TensorRT is published for x86_64 and aarch64 only; this machine is riscv64",
        ),
    ],
)
def test_which_package_for_which_machine(machine, jetson, expected):
    assert expected in tensorrt_install_hint(machine, jetson)


def test_a_jetson_is_known_by_its_tegra_release_file(tmp_path):
    release = tmp_path / "nv_tegra_release"
    assert not is_jetson("aarch64", release)
    release.write_text("# R36 (release), REVISION: 4.0")
    assert is_jetson("aarch64", release)
    assert not is_jetson("x86_64", release)


class ParserErrorStandIn:
    """Stands in for TensorRT's ParserError (no TensorRT here): accessors are methods."""

    def __init__(self, **values):
        self.values = values

    def __getattr__(self, name):
        if name in self.values:
            return lambda: self.values[name]
        raise AttributeError(name)


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (
            {
                "desc": "Unsupported operator Mod",
                "node": 412,
                "node_name": "/model.22/Mod",
                "node_operator": "Mod",
                "code": "UNSUPPORTED_NODE",
            },
            "Unsupported operator Mod (node 412 '/model.22/Mod' Mod; code UNSUPPORTED_NODE)",
        ),
        (  # older parsers without node names
            {"desc": "Invalid weights", "node": 3, "code": "INVALID_VALUE"},
            "Invalid weights (node 3; code INVALID_VALUE)",
        ),
    ],
)
def test_parser_errors_name_their_node(fields, text):
    assert format_parser_error(ParserErrorStandIn(**fields)) == text
