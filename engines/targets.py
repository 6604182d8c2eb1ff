"""Which engines a site needs: one per ONNX file that a tensorrt (or auto) model names.

The engine's file name is derived from the ONNX file's name and the precision only
(`<engine_dir>/<onnx stem>.<precision>.engine`), never from versions or GPU names: whether a
file is current is the manifest's business (engines/staleness.py), so a new TensorRT never
leaves an orphan engine behind a name nobody looks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from engines.frames_input import FRAMES_INPUT
from engines.manifest import (
    BuildSettings,
    DeviceFacts,
    EngineManifest,
    manifest_path,
    source_tensors,
)
from pipeline.config.backends import Backend, TensorRtConfig
from pipeline.config.models import ModelConfig, SiteConfig
from pipeline.config.sources import CameraConfig
from pipeline.infer.model_spec import ModelSpec, read_model_spec

ENGINE_BACKENDS = (Backend.TENSORRT, Backend.AUTO)


class TargetError(ValueError):
    """The site's tensorrt settings cannot describe an engine for a model; says what to change."""


@dataclass(frozen=True)
class EngineTarget:
    """One engine to build or check: the ONNX, where the engine goes, the profile it takes."""

    models: tuple[str, ...]  # display names of the site's models that run on it
    model: ModelConfig  # the first of them (path, class names, layout overrides)
    spec: ModelSpec
    engine: Path
    settings: TensorRtConfig
    batch_profile: tuple[int, int, int]  # min, opt, max images per call
    cameras: tuple[CameraConfig, ...]  # the site's: int8 calibration frames may come from them

    @property
    def onnx(self) -> Path:
        return self.model.path

    @property
    def manifest(self) -> Path:
        return manifest_path(self.engine)

    @property
    def max_batch(self) -> int:
        return self.batch_profile[2]

    def wanted(self, onnx_sha256: str, calibration: str | None) -> BuildSettings:
        """What the site asks this engine to be, for the manifest and the staleness check."""
        spec = self.spec
        return BuildSettings(
            onnx_sha256=onnx_sha256,
            precision=self.settings.precision,
            batch_profile=self.batch_profile,
            frames_input=FRAMES_INPUT,
            input_shape=(self.max_batch, spec.input_height, spec.input_width, 3),
            dla_core=self.settings.dla_core,
            calibration=calibration,
        )

    def manifest_for(
        self,
        device: DeviceFacts,
        onnx_sha256: str,
        calibration: str | None,
        precision_route: str,
        built_at: str,
        build_seconds: float,
    ) -> EngineManifest:
        """The manifest of an engine built for this target on `device`."""
        inputs, outputs, metadata = source_tensors(self.onnx)
        return EngineManifest(
            source_onnx=str(self.onnx),
            settings=self.wanted(onnx_sha256, calibration),
            device=device,
            onnx_inputs=inputs,
            onnx_outputs=outputs,
            metadata=metadata,
            classes=self.spec.class_names,
            layout=self.spec.layout.layout.value,
            precision_route=precision_route,
            built_at=built_at,
            build_seconds=build_seconds,
        )


def engine_file(settings: TensorRtConfig, onnx: Path) -> Path:
    return settings.engine_dir / f"{onnx.stem}.{settings.precision.value}.engine"


def batch_profile(
    settings: TensorRtConfig, spec: ModelSpec, max_batch: int
) -> tuple[int, int, int]:
    """(min, opt, max) images per call: a fixed-batch ONNX fixes all three; otherwise
    `tensorrt.batch`, its max defaulting to the site's `inference.max_batch` (or the most the
    model takes per call, if less; larger batches run in chunks of max) and its opt to max."""
    given = settings.batch
    if spec.batch is not None:
        fixed = spec.batch
        asked = {key: getattr(given, key) for key in sorted(given.model_fields_set)}
        if any(value is not None and value != fixed for value in asked.values()):
            raise TargetError(
                f"{spec.path}: the model's batch is fixed at {fixed}; remove tensorrt.batch "
                f"({', '.join(f'{k}: {v}' for k, v in asked.items())}) or export the model "
                "with a dynamic batch"
            )
        return fixed, fixed, fixed
    limit = spec.max_batch  # a dynamic nms=True export is built for at most its batch
    if given.max is not None and limit is not None and given.max > limit:
        raise TargetError(
            f"{spec.path}: tensorrt.batch.max {given.max}, but the model takes at most {limit} "
            "images per call; lower tensorrt.batch.max"
        )
    largest = given.max if given.max is not None else min(max_batch, limit or max_batch)
    tuned = given.opt if given.opt is not None else largest
    if not given.min <= tuned <= largest:
        raise TargetError(
            f"tensorrt.batch: min {given.min} <= opt {tuned} <= max {largest} does not hold "
            f"(max defaults to inference.max_batch, {max_batch}); set tensorrt.batch.max"
        )
    return given.min, tuned, largest


def model_target(site: SiteConfig, model: ModelConfig, spec: ModelSpec) -> EngineTarget:
    """The engine one model of the site runs on."""
    settings = site.tensorrt
    return EngineTarget(
        models=(model.display_name,),
        model=model,
        spec=spec,
        engine=engine_file(settings, model.path),
        settings=settings,
        batch_profile=batch_profile(settings, spec, site.inference.max_batch),
        cameras=tuple(site.cameras),
    )


def site_targets(
    site: SiteConfig,
    specs: Sequence[ModelSpec] | None = None,
    backends: Sequence[Backend] = ENGINE_BACKENDS,
) -> list[EngineTarget]:
    """Every engine the site needs, one per ONNX file, in the order the models are listed.

    `specs`: the models' specs if already read (one per `site.detectors`), else they are read
    here (ModelLoadError for a bad file). `backends`: the models considered (default: tensorrt
    and auto). TargetError if two files would share an engine name.
    """
    models = site.detectors
    targets: dict[Path, EngineTarget] = {}
    for index, model in enumerate(models):
        if model.backend not in backends:
            continue
        key = model.path.resolve()
        if key in targets:
            found = targets[key]
            targets[key] = replace(found, models=(*found.models, model.display_name))
            continue
        spec = specs[index] if specs is not None else read_model_spec(model)
        targets[key] = model_target(site, model, spec)
    by_engine: dict[Path, Path] = {}
    for key, target in targets.items():
        other = by_engine.setdefault(target.engine, key)
        if other != key:
            raise TargetError(
                f"{other} and {key} would both build {target.engine}: rename one of the files "
                "(engines are named after the ONNX file)"
            )
    return list(targets.values())
