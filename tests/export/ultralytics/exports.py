"""Real Ultralytics exports for the suite: the fixtures `ultralytics_exports` (session-scoped)
and `export_python`. A plain module so that any conftest can offer them (this folder's
conftest.py imports them; the root conftest can list it in `pytest_plugins`).

On first use it creates the export venv (export/setup_venv.sh: .venv-export, minutes on a new
machine) and builds every file of fixture_models.py there; the files are kept in
$VIGIA_TEST_CACHE (default ~/.cache/vigia) under a key hashed from the export requirements,
the exporter's code and the builder, so later runs find them at once.

A missing package or a failed build is never a skip nor a setup error: the fixture returns the
reason and each test that asks for a file fails with it (`UltralyticsExports.onnx`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
EXPORT_VENV = Path(os.environ.get("VIGIA_EXPORT_VENV", REPO / ".venv-export"))
EXPORT_PYTHON = EXPORT_VENV / "bin" / "python"
# What the files depend on: a change to any of these builds them again.
KEY_FILES = (
    "requirements-export.txt",
    "configs/demo-prompts.yaml",
    "tests/export/ultralytics/fixture_models.py",
)
KEY_FOLDERS = ("export/ultralytics",)
# Creating the venv and building every file, from nothing, on a 2-core machine; the tests
# that use the fixture carry this timeout (pytest-timeout counts fixture setup).
BUILD_TIMEOUT_S = 1800


def cache_key() -> str:
    digest = hashlib.sha256()
    paths = [REPO / name for name in KEY_FILES]
    for folder in KEY_FOLDERS:
        paths += sorted((REPO / folder).glob("*.py"))
    for path in paths:
        digest.update(path.relative_to(REPO).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("VIGIA_TEST_CACHE") or Path.home() / ".cache" / "vigia"
    return Path(base) / "ultralytics-exports"


def export_env(config_dir: Path) -> dict[str, str]:
    """The environment the export venv runs in: offline, Ultralytics' settings in a temp dir."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONHOME"}}
    env |= {"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(config_dir), "PYTHONPATH": str(REPO)}
    return env


def missing_package_message(output: str) -> str:
    """The packages pip or the venv check named, for the failure message."""
    named = re.findall(r"No matching distribution found for (\S+)", output)
    named += re.findall(r"^export venv: ([^:]+):", output, flags=re.MULTILINE)
    return f"missing or broken package(s): {', '.join(dict.fromkeys(named))}; " if named else ""


@dataclass
class UltralyticsExports:
    """Paths of the built files by (model, variant); see fixture_models.MODEL_VARIANTS."""

    root: Path | None
    failure: str | None
    manifest: dict[str, Any] = field(default_factory=dict)

    def require(self) -> dict[str, Any]:
        if self.failure is not None:
            pytest.fail(self.failure, pytrace=False)
        return self.manifest

    def entry(self, model: str, variant: str) -> dict[str, Any]:
        """inputs / outputs ([name, dims] lists), metadata (key -> value), file names."""
        models = self.require()["models"]
        if model not in models or variant not in models[model]["variants"]:
            pytest.fail(f"no fixture export {model}/{variant}", pytrace=False)
        entry: dict[str, Any] = models[model]["variants"][variant]
        return entry

    def onnx(self, model: str, variant: str, *, vigia_metadata: bool = True) -> Path:
        """The exported file; vigia_metadata=False: the same file as Ultralytics wrote it."""
        entry = self.entry(model, variant)
        assert self.root is not None
        return self.root / entry["path" if vigia_metadata else "ultralytics_path"]

    def checkpoint(self, model: str) -> Path:
        """The random-weight .pt checkpoint the model's files were exported from."""
        manifest = self.require()
        assert self.root is not None
        return self.root / manifest["models"][model]["checkpoint"]

    def variants(self) -> list[tuple[str, str]]:
        return [
            (model, variant)
            for model, entry in self.require()["models"].items()
            for variant in entry["variants"]
        ]


def run_logged(command: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    try:
        done = subprocess.run(
            command,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        stderr = error.stderr.decode(errors="replace") if isinstance(error.stderr, bytes) else ""
        return -1, f"timed out after {timeout:.0f} s: {stderr}"
    return done.returncode, done.stdout + done.stderr


def set_up_venv(env: dict[str, str]) -> str | None:
    """Create the export venv where it is missing or stale (seconds when it is ready); None,
    or why it failed. Cached exports do not imply a venv: a machine may keep ~/.cache but not
    the checkout's .venv-export."""
    code, output = run_logged(["bash", "export/setup_venv.sh"], env, BUILD_TIMEOUT_S)
    if code == 0:
        return None
    tail = "\n".join(output.strip().splitlines()[-15:])
    return (
        f"the export venv could not be set up (bash export/setup_venv.sh, exit {code}): "
        f"{missing_package_message(output)}last output:\n{tail}"
    )


def build_exports(root: Path, config_dir: Path) -> str | None:
    """Create the venv if needed and build into `root`; None, or why it failed."""
    env = export_env(config_dir)
    failure = set_up_venv(env)
    if failure is not None:
        return failure
    partial = Path(tempfile.mkdtemp(prefix=f"{root.name}.", dir=root.parent))
    command = [str(EXPORT_PYTHON), "-m", "tests.export.ultralytics.fixture_models", str(partial)]
    code, output = run_logged(command, env, BUILD_TIMEOUT_S)
    if code != 0:
        shutil.rmtree(partial, ignore_errors=True)
        tail = "\n".join(output.strip().splitlines()[-25:])
        return f"building the fixture exports failed ({' '.join(command)}, exit {code}):\n{tail}"
    partial.rename(root)
    return None


@pytest.fixture(scope="session")
def ultralytics_exports(tmp_path_factory: pytest.TempPathFactory) -> UltralyticsExports:
    root = cache_root() / cache_key()
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session building the same set: wait for it
        failure = None
        if not (root / "manifest.json").is_file():
            shutil.rmtree(root, ignore_errors=True)
            failure = build_exports(root, tmp_path_factory.mktemp("yolo-config"))
    if failure is not None:
        return UltralyticsExports(None, failure)
    return UltralyticsExports(root, None, json.loads((root / "manifest.json").read_text()))


@pytest.fixture(scope="session")
def export_venv(
    ultralytics_exports: UltralyticsExports, tmp_path_factory: pytest.TempPathFactory
) -> str | None:
    """None once the export venv is ready, else why not (the exports' own failure first)."""
    if ultralytics_exports.failure is not None:
        return ultralytics_exports.failure
    return set_up_venv(export_env(tmp_path_factory.mktemp("yolo-config")))


@pytest.fixture
def export_python(export_venv: str | None, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The export venv's interpreter and an environment for it (offline, fresh settings,
    HOME in a temp dir so no CLIP weights are found by accident), once the venv exists."""
    if export_venv is not None:
        pytest.fail(export_venv, pytrace=False)
    home = tmp_path / "home"
    home.mkdir()
    env = export_env(tmp_path / "yolo-config") | {"HOME": str(home)}
    env.pop("VIGIA_CLIP_WEIGHTS", None)
    yield EXPORT_PYTHON, env
