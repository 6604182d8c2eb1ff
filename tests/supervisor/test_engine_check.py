"""The engines of tensorrt models, checked before anything starts: a missing or stale one is
refused with the reason and the command that fixes it, naming the real site file; where
TensorRT is not installed, one line says so; `python -m pipeline.run` then exits 3 (the
model cannot run) without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engines.manifest import file_sha256, write_manifest
from engines.targets import site_targets
from pipeline.config import ConfigError, load_site_config
from pipeline.config.loading import KeyLocator
from pipeline.infer.model_spec import read_model_spec
from supervisor.engine_check import EngineNotReady, engine_problems
from supervisor.preflight import prepare_site
from tests.engines.gpu import tensorrt_or_reason
from tests.engines.sites import DEMO_MODEL, H200, REPO

SITE = """\
site: enginecheck
models:
  - {{name: ppe, path: {model}, backend: {backend}}}
tensorrt: {{engine_dir: {engines}, rebuild_stale: {rebuild}}}
cameras:
  - {{id: CAM1, source: {{kind: synthetic}}}}
"""


def site_file(tmp_path: Path, backend: str = "tensorrt", rebuild: bool = False) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(
        SITE.format(
            model=DEMO_MODEL,
            backend=backend,
            engines=tmp_path / "engines",
            rebuild=str(rebuild).lower(),
        )
    )
    return path


def this_h200(device_id: int):
    """The GPU facts of a machine with TensorRT (none here: the one fake, at the system edge)."""
    return None, H200


def check(path: Path, machine=this_h200) -> list[str]:
    config = load_site_config(path)
    specs = [read_model_spec(model) for model in config.detectors]
    return engine_problems(config, specs, path, KeyLocator.for_file(path).where, machine)


def build_stand_in(path: Path, **changes) -> None:
    """An engine file and the manifest a build on H200 would have written."""
    (target,) = site_targets(load_site_config(path))
    target.engine.parent.mkdir(parents=True, exist_ok=True)
    target.engine.write_bytes(b"serialized engine stand-in")
    device = H200.model_copy(update=changes)
    route = "fp16: BuilderFlag.FP16 (TensorRT 10)"
    manifest = target.manifest_for(device, file_sha256(DEMO_MODEL), None, route, "t", 1)
    write_manifest(target.manifest, manifest)


def test_a_missing_engine_is_refused_with_the_command_on_the_site_file(tmp_path):
    path = site_file(tmp_path)
    engine = tmp_path / "engines" / "ppe-demo.fp16.engine"
    assert check(path) == [
        f"{engine} (ppe): engine missing; run make engines SITE={path} (python -m engines.build "
        f"{path}) on this machine, or set tensorrt.rebuild_stale: true to build it at start "
        "(minutes)"
    ]


def test_a_stale_engine_is_refused_with_the_reason(tmp_path):
    path = site_file(tmp_path)
    build_stand_in(path, tensorrt_version="10.8.0.43")
    (problem,) = check(path)
    assert "engine stale: TensorRT changed (was 10.8.0.43, now 10.16.0.72); run " in problem
    assert f"make engines SITE={path} (python -m engines.build {path})" in problem


def test_an_up_to_date_engine_passes(tmp_path):
    path = site_file(tmp_path)
    build_stand_in(path)
    assert check(path) == []


@pytest.mark.parametrize(
    ("backend", "rebuild"),
    [("auto", False), ("onnxruntime", False), ("tensorrt", True)],
)
def test_auto_other_backends_and_rebuild_stale_are_not_refused(tmp_path, backend, rebuild):
    """auto falls back to ONNX Runtime; rebuild_stale builds the engine at start."""
    assert check(site_file(tmp_path, backend, rebuild)) == []


def test_no_tensorrt_is_one_line_placed_at_the_models_backend(tmp_path):
    from engines.availability import TensorRtMissing

    def without_tensorrt(device_id: int):
        raise TensorRtMissing(
            "TensorRT is not installed here (No module named 'tensorrt'); pip install ..."
        )

    path = site_file(tmp_path)
    assert check(path, without_tensorrt) == [
        f"{path}:3 models[0].backend: backend tensorrt: TensorRT is not installed here "
        "(No module named 'tensorrt'); pip install ..."
    ]


def without_tensorrt_here() -> None:
    if tensorrt_or_reason() is None:
        pytest.skip("TensorRT and a GPU are here")


def test_preflight_refuses_the_start_where_tensorrt_is_missing(tmp_path):
    without_tensorrt_here()
    path = site_file(tmp_path)
    with pytest.raises(EngineNotReady) as caught:
        prepare_site(load_site_config(path), path)
    assert isinstance(caught.value, ConfigError)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:3 models[0].backend: backend tensorrt: TensorRT is not ")


def test_the_site_exits_3_with_the_reason_and_no_traceback(tmp_path):
    without_tensorrt_here()
    path = site_file(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.run", str(path), "--output-dir", str(tmp_path / "run")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "python -m pipeline.run: the model cannot run, nothing started:"
    assert len(lines) == 2 and "backend tensorrt: TensorRT is not installed here" in lines[1]
    assert not (tmp_path / "run").exists()  # nothing started
