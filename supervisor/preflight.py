"""Checks that need more than the YAML itself, done before any process or segment exists:
the model file and its classes, the prompts and ROI files, the video files (present, and
videos), the secrets the camera URLs name, then the engines of `tensorrt` models
(supervisor/engine_check.py). Every problem is listed at once, placed at `file:line key.path`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.analytics import ClassRoles, ZoneSpec, load_prompts, load_roi_file, zone_specs
from pipeline.analytics.zones import unused_zone_rules
from pipeline.camera.sources import SourceError, VideoFileSource
from pipeline.camera.urls import missing_variables
from pipeline.config import ConfigError, SiteConfig
from pipeline.config.events import events_directory
from pipeline.config.loading import KeyLocator
from pipeline.config.sources import FileSource, GStreamerSource, RtspSource, SourceConfig
from pipeline.events.outbox import OUTBOX_FILE, Outbox, OutboxError
from pipeline.infer.backends import ModelLoadError
from pipeline.infer.model_spec import ModelSpec, read_model_spec
from pipeline.infer.site_models import SiteModels, plan_models
from pipeline.yaml_source import KeyPath
from supervisor.engine_check import EngineNotReady, engine_problems

REPOSITORY = Path(__file__).resolve().parents[1]
# What the repository's own make targets create, and how to get each back when it is missing.
GENERATED = {
    REPOSITORY / "data" / "demo": "`make demo` renders the demo videos on first run",
    REPOSITORY / "models" / "demo": (
        "the demo detector ships in the repository (restore it with `git checkout models/demo`, "
        "or retrain it with `make demo-model`)"
    ),
}


def missing_file_hint(path: Path) -> str:
    """What to do about a missing file that one of the repository's make targets makes."""
    folder = path.resolve().parent
    return next((f": {hint}" for where, hint in GENERATED.items() if folder == where), "")


@dataclass(frozen=True)
class SitePlan:
    config: SiteConfig
    config_path: Path
    models: SiteModels
    roles: ClassRoles  # what each site-wide class proves (person, helmet, no helmet...)
    zones: tuple[tuple[ZoneSpec, ...], ...]  # per camera, in config order
    outbox: Path | None = None  # the events outbox, when the site has sinks


def prepare_site(
    config: SiteConfig, config_path: Path, locator: KeyLocator | None = None
) -> SitePlan:
    """Raises ConfigError listing every problem found, each placed by `locator`
    (`file:line key.path`; default: the lines of `config_path`); once there is none,
    EngineNotReady (a ConfigError) if a tensorrt model's engine would be refused at load."""
    where = (locator or KeyLocator.for_file(config_path)).where
    problems: list[str] = []
    specs: list[ModelSpec] = []
    for index, model in enumerate(config.detectors):
        key = ("models", index, "path") if config.models is not None else ("model", "path")
        try:
            specs.append(read_model_spec(model))
        except ModelLoadError as error:
            hint = missing_file_hint(model.path) if not model.path.exists() else ""
            problems.append(f"{where(key)}: {error}{hint}")
    models = plan_models(config.detectors, specs) if len(specs) == len(config.detectors) else None
    roles: ClassRoles | None = None
    if models is not None:
        try:
            roles = (
                load_prompts(config.prompts).resolve(models.class_names)
                if config.prompts is not None
                else ClassRoles.from_names(models.class_names)
            )
        except ConfigError as error:
            problems.extend(error.problems)
    zones: list[tuple[ZoneSpec, ...]] = []
    used: set[str] = set()
    for index, camera in enumerate(config.cameras):
        roi = camera.roi or config.roi
        names = camera.roi_polys if camera.roi_polys is not None else config.roi_polys
        camera_zones: tuple[ZoneSpec, ...] = ()
        try:
            polygons = load_roi_file(roi).select(names) if roi is not None else ()
            camera_zones = zone_specs(polygons, config.compliance)
            used.update(polygon.name for polygon in polygons)
        except ConfigError as error:
            problems.extend(f"cameras[{index}] ({camera.id}): {p}" for p in error.problems)
        zones.append(camera_zones)
        if roles is not None:
            problems.extend(
                f"cameras[{index}] ({camera.id}): zone {zone.name} ({zone.where}) requires a "
                f"{item.value}, but no class of the models proves one (classes: "
                f"{', '.join(roles.class_names)}); name the class in the prompts file or "
                "change the zone's `require:`"
                for zone in camera_zones
                for item in zone.require
                if not roles.watches(item)
            )
        problems.extend(_source_problems(camera.source, ("cameras", index, "source"), where))
    problems.extend(unused_zone_rules(config.compliance, used))
    problems.extend(_events_problems(config, where))
    if problems or models is None or roles is None:
        raise ConfigError(problems)
    engines = engine_problems(config, specs, config_path, where)
    if engines:
        raise EngineNotReady(engines)
    outbox = None
    if config.events.sinks:
        outbox = _open_outbox(config)
    return SitePlan(config, config_path, models, roles, tuple(zones), outbox)


def _source_problems(
    source: SourceConfig, key: tuple[str | int, ...], where: Callable[[KeyPath], str]
) -> list[str]:
    """What can be known now of a source that could never work: a video file missing or not
    a video, a ${NAME} secret that is not set."""
    if isinstance(source, FileSource):
        if not source.path.is_file():
            hint = missing_file_hint(source.path)
            kind = "is a directory, not a video file" if source.path.is_dir() else "not found"
            return [f"{where((*key, 'path'))}: {source.path} {kind}{hint}"]
        try:
            _probe_video(source)
        except SourceError as error:
            return [f"{where((*key, 'path'))}: {error}"]
        return []
    field = "url" if isinstance(source, RtspSource) else "pipeline"
    template = source.url if isinstance(source, RtspSource) else ""
    template = source.pipeline if isinstance(source, GStreamerSource) else template
    return [
        f"{where((*key, field))}: environment variable {name} is not set (used as "
        f"${{{name}}}); export it in the environment that starts vigia"
        for name in missing_variables(template, os.environ)
    ]


def _probe_video(source: FileSource) -> None:
    """Open the file and decode its first frame; SourceError when it is not a video."""
    video = VideoFileSource(source)
    try:
        video.read()
    finally:
        video.close()


def _events_problems(config: SiteConfig, where: Callable[[KeyPath], str]) -> list[str]:
    """Secrets of the sinks that are not set: found now, not when an event is delivered."""
    return [
        f"{where(('events', *key))}: environment variable {name} is not set (used as "
        f"${{{name}}}); export it before starting the site"
        for key, name in config.events.variable_uses()
        if name not in os.environ
    ]


def _open_outbox(config: SiteConfig) -> Path:
    """Create the outbox (or open the one a previous run left, with what it still holds) so
    that a folder that cannot hold it is refused before anything starts."""
    folder = events_directory(config.events, config.site, config.output_dir)
    path = folder / OUTBOX_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        Outbox(path, config.events.outbox).close()
    except (OSError, OutboxError) as error:
        raise ConfigError(
            [f"events.directory: cannot keep the outbox at {path}: {error}"]
        ) from None
    return path
