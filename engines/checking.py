"""The verdict on one target's engine as this machine sees it: shared by `--check`, the build,
the supervisor's preflight and the TensorRT backend at site start, so all say the same thing."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from engines.availability import import_tensorrt
from engines.calibration import choose_frames, set_id
from engines.calibration_capture import frames_folder
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


def this_machine(device_id: int) -> tuple[ModuleType, DeviceFacts]:
    """TensorRT and what it runs on here (GPU `device_id`). TensorRtMissing or CudaError
    (CudaMissing without cuda-python or pycuda), each a one-line message of what is missing."""
    trt = import_tensorrt()
    # Imported once TensorRT is known to be here: the builder is for machines that have it.
    from engines.builder import device_facts

    return trt, device_facts(trt, device_id)


def calibration_identity(target: EngineTarget) -> str | None:
    """The id of the calibration set an int8 engine would be built from now; None otherwise.
    Frames still to be captured from the cameras have no id yet: a name that says so, which
    matches no manifest."""
    settings = target.settings
    if settings.precision is not Precision.INT8:
        return None
    folder = frames_folder(target)
    if settings.calibration_frames is None and not folder.is_dir():
        return f"{folder.name} (not captured yet)"
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


def refusal(target: EngineTarget, verdict: Verdict, site_file: Path | str) -> str:
    """Why an engine that is not up to date is refused at site start, and what fixes it."""
    return (
        f"{target.engine} ({', '.join(target.models)}): engine {verdict.describe()}; run "
        f"{fix_command(site_file)} on this machine, or set tensorrt.rebuild_stale: true "
        "to build it at start (minutes)"
    )
