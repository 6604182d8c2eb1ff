"""Is an engine up to date, stale (and why) or missing? Pure: manifests and facts in, a verdict out.

The same verdict, word for word, is printed by `python -m engines.build SITE --check` and by
the TensorRT backend when it refuses an engine at site start.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from engines.manifest import BuildSettings, DeviceFacts, EngineManifest, ManifestError


class EngineState(str, Enum):
    UP_TO_DATE = "up to date"
    STALE = "stale"
    MISSING = "missing"


class StaleReason(str, Enum):
    ONNX_CHANGED = "ONNX changed"
    TENSORRT_CHANGED = "TensorRT changed"
    CUDA_CHANGED = "CUDA changed"
    GPU_CHANGED = "GPU changed"
    PRECISION_CHANGED = "precision changed"
    PROFILE_CHANGED = "profile changed"
    INPUT_CHANGED = "input changed"
    DLA_CHANGED = "DLA core changed"
    CALIBRATION_CHANGED = "calibration frames changed"
    NO_MANIFEST = "no usable manifest"


@dataclass(frozen=True)
class Staleness:
    reason: StaleReason
    detail: str  # "was 1a2b3c4d, now 5e6f7a8b"

    def __str__(self) -> str:
        return f"{self.reason.value} ({self.detail})"


@dataclass(frozen=True)
class Verdict:
    engine: Path
    state: EngineState
    reasons: tuple[Staleness, ...] = ()

    @property
    def up_to_date(self) -> bool:
        return self.state is EngineState.UP_TO_DATE

    def describe(self) -> str:
        """`up to date`, `missing`, or `stale: ONNX changed (was 1a2b3c4d, now 5e6f7a8b); ...`."""
        if self.state is EngineState.STALE:
            return "stale: " + "; ".join(str(reason) for reason in self.reasons)
        return self.state.value


def _was_now(was: object, now: object) -> str:
    return f"was {was}, now {now}"


def _short(sha256: str) -> str:
    return sha256[:12]


def _major(version: str) -> str:
    return version.split(".")[0]


def judge(
    engine: Path,
    wanted: BuildSettings,
    device: DeviceFacts,
    manifest: EngineManifest | ManifestError | None,
) -> Verdict:
    """The verdict on `engine` for a site that wants `wanted` on `device`.

    `manifest`: what `read_manifest` gave (the error if it failed), None when the engine file
    itself does not exist. TensorRT's own version must match exactly (an engine runs only on
    the version that built it); CUDA by major version; the GPU by name and compute capability.
    """
    if manifest is None or not engine.is_file():
        return Verdict(engine, EngineState.MISSING)
    if isinstance(manifest, ManifestError):
        return Verdict(
            engine, EngineState.STALE, (Staleness(StaleReason.NO_MANIFEST, str(manifest)),)
        )
    built, facts = manifest.settings, manifest.device
    reasons: list[Staleness] = []
    if built.onnx_sha256 != wanted.onnx_sha256:
        detail = f"sha256 was {_short(built.onnx_sha256)}, now {_short(wanted.onnx_sha256)}"
        reasons.append(Staleness(StaleReason.ONNX_CHANGED, detail))
    if facts.tensorrt_version != device.tensorrt_version:
        detail = _was_now(facts.tensorrt_version, device.tensorrt_version)
        reasons.append(Staleness(StaleReason.TENSORRT_CHANGED, detail))
    if _major(facts.cuda_version) != _major(device.cuda_version):
        reasons.append(
            Staleness(StaleReason.CUDA_CHANGED, _was_now(facts.cuda_version, device.cuda_version))
        )
    built_gpu = f"{facts.gpu_name}, compute {facts.compute_capability}"
    this_gpu = f"{device.gpu_name}, compute {device.compute_capability}"
    if built_gpu != this_gpu:
        reasons.append(Staleness(StaleReason.GPU_CHANGED, _was_now(built_gpu, this_gpu)))
    if built.precision is not wanted.precision:
        detail = _was_now(built.precision.value, wanted.precision.value)
        reasons.append(Staleness(StaleReason.PRECISION_CHANGED, detail))
    if built.batch_profile != wanted.batch_profile:
        detail = _was_now(_profile(built.batch_profile), _profile(wanted.batch_profile))
        reasons.append(Staleness(StaleReason.PROFILE_CHANGED, detail))
    if (built.frames_input, built.input_shape[1:]) != (wanted.frames_input, wanted.input_shape[1:]):
        detail = _was_now(_input(built), _input(wanted))
        reasons.append(Staleness(StaleReason.INPUT_CHANGED, detail))
    if built.dla_core != wanted.dla_core:
        detail = _was_now(_dla(built.dla_core), _dla(wanted.dla_core))
        reasons.append(Staleness(StaleReason.DLA_CHANGED, detail))
    if built.calibration != wanted.calibration:
        detail = _was_now(built.calibration or "none", wanted.calibration or "none")
        reasons.append(Staleness(StaleReason.CALIBRATION_CHANGED, detail))
    if reasons:
        return Verdict(engine, EngineState.STALE, tuple(reasons))
    return Verdict(engine, EngineState.UP_TO_DATE)


def _profile(profile: tuple[int, int, int]) -> str:
    return "batch {}/{}/{}".format(*profile)


def _input(settings: BuildSettings) -> str:
    _, height, width, _ = settings.input_shape
    return f"{settings.frames_input} {width}x{height}"


def _dla(core: int | None) -> str:
    return "GPU" if core is None else f"DLA {core}"
