"""Before anything starts: the engine of every `tensorrt` model, judged as the TensorRT backend
would judge it at load (engines/checking.py), so that a missing or stale engine is refused
with the same reason and the command that fixes it, before any process or segment exists.

`auto` models are not checked: without an up-to-date engine they run on ONNX Runtime. With
`tensorrt.rebuild_stale` the inference process builds what is missing at start. Where TensorRT
or CUDA cannot be had, one line says so (what `python -m engines.build --check` says).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from engines.availability import TensorRtMissing
from engines.calibration import CalibrationError
from engines.checking import refusal, target_verdict, this_machine
from engines.manifest import DeviceFacts
from engines.targets import TargetError, site_targets
from pipeline.config import ConfigError, SiteConfig
from pipeline.config.backends import Backend
from pipeline.infer.backends.cuda_memory import CudaError
from pipeline.infer.model_spec import ModelSpec
from pipeline.yaml_source import KeyPath

Machine = Callable[[int], tuple[ModuleType, DeviceFacts]]


class EngineNotReady(ConfigError):
    """A `tensorrt` model cannot run as the site stands: its engine is missing or stale, or
    TensorRT or a GPU is not here. The site exits with ExitCode.MODEL, as it would had the
    inference process refused the engine, but nothing was started."""


def engine_problems(
    config: SiteConfig,
    specs: Sequence[ModelSpec],
    site_file: Path,
    where: Callable[[KeyPath], str],
    machine: Machine = this_machine,
) -> list[str]:
    """Why the engines of `config`'s tensorrt models would be refused at load (none: they are
    up to date, or the site rebuilds them). `specs`: one per `config.detectors`; `site_file`
    is named in the command that fixes them; `machine` gives TensorRT and the GPU's facts."""
    try:
        targets = site_targets(config, specs, backends=(Backend.TENSORRT,))
    except TargetError as error:
        return [f"{where(('tensorrt',))}: {error}"]
    if not targets:
        return []
    try:
        _, device = machine(config.tensorrt.device_id)
    except (TensorRtMissing, CudaError) as error:
        return [f"{where(_first_tensorrt_key(config))}: backend tensorrt: {error}"]
    if config.tensorrt.rebuild_stale:
        return []  # the inference process builds them at start, with the startup allowance
    problems = []
    for target in targets:
        try:
            verdict = target_verdict(target, device)
        except CalibrationError as error:
            problems.append(f"{where(('tensorrt', 'calibration_frames'))}: {error}")
            continue
        if not verdict.up_to_date:
            problems.append(refusal(target, verdict, site_file))
    return problems


def _first_tensorrt_key(config: SiteConfig) -> KeyPath:
    if config.models is None:
        return ("model", "backend")
    index = next(i for i, m in enumerate(config.models) if m.backend is Backend.TENSORRT)
    return ("models", index, "backend")
