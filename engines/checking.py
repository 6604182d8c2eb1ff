"""The verdict on one target's engine as this machine sees it: shared by `--check`, the build
and the TensorRT backend at site start, so all three say the same thing."""

from __future__ import annotations

from pathlib import Path

from engines.calibration import choose_frames, set_id
from engines.manifest import (
    BuildSettings,
    DeviceFacts,
    EngineManifest,
    ManifestError,
    file_sha256,
    read_manifest,
)
from engines.staleness import Verdict, judge
from engines.targets import EngineTarget
from pipeline.config.backends import Precision


def calibration_identity(target: EngineTarget) -> str | None:
    """The id of the calibration set an int8 engine would be built from now; None otherwise."""
    settings = target.settings
    if settings.precision is not Precision.INT8 or settings.calibration_frames is None:
        return None
    folder = settings.calibration_frames
    files = choose_frames(folder, settings.calibration_count)
    spec = target.spec
    return set_id(files, folder, (spec.input_width, spec.input_height), spec.stretch)


def wanted_settings(target: EngineTarget) -> BuildSettings:
    return target.wanted(file_sha256(target.onnx), calibration_identity(target))


def target_verdict(target: EngineTarget, device: DeviceFacts) -> Verdict:
    """Up to date, stale (with every reason) or missing, for `target` on `device`."""
    wanted = wanted_settings(target)
    manifest: EngineManifest | ManifestError | None = None
    if target.engine.is_file():
        try:
            manifest = read_manifest(target.manifest)
        except ManifestError as error:
            manifest = error
    return judge(target.engine, wanted, device, manifest)


def fix_command(site_file: Path | str) -> str:
    """The command that brings a site's engines up to date, for messages."""
    return f"make engines SITE={site_file} (python -m engines.build {site_file})"
