"""The site's models together: which ring view each reads, and the site-wide class ids.

Every model's kept classes follow the previous model's in one site-wide class list, so class
ids of two models never collide (a person detector's `person` and a PPE detector's `person`
are two ids, each with its model index).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.config.models import ModelConfig
from pipeline.infer.model_spec import ModelSpec
from pipeline.shm.layout import FrameView


@dataclass(frozen=True)
class SiteModel:
    """One model as the site runs it. `kept`: the model's own class ids kept, in order;
    `class_offset`: the site-wide id of `kept[0]`; `view`: index of its ring view."""

    index: int
    config: ModelConfig
    spec: ModelSpec
    view: int
    kept: tuple[int, ...]
    class_offset: int

    @property
    def name(self) -> str:
        return self.spec.name

    def site_class_ids(self) -> np.ndarray:
        """Lookup (len(model classes),) int32: model class id -> site-wide id, -1 if dropped."""
        lookup = np.full(len(self.spec.class_names), -1, dtype=np.int32)
        lookup[list(self.kept)] = self.class_offset + np.arange(len(self.kept), dtype=np.int32)
        return lookup


@dataclass(frozen=True)
class SiteModels:
    models: tuple[SiteModel, ...]
    views: tuple[FrameView, ...]
    class_names: tuple[str, ...]  # site-wide class id -> name

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(model.name for model in self.models)

    @property
    def max_detections(self) -> int:
        return sum(model.config.max_detections for model in self.models)


def plan_models(configs: Sequence[ModelConfig], specs: Sequence[ModelSpec]) -> SiteModels:
    views: list[FrameView] = []
    models: list[SiteModel] = []
    class_names: list[str] = []
    for index, (config, spec) in enumerate(zip(configs, specs, strict=True)):
        view = FrameView(spec.input_width, spec.input_height, spec.stretch)
        if view not in views:
            views.append(view)
        wanted = config.classes or spec.class_names
        kept = tuple(spec.class_names.index(name) for name in wanted)
        models.append(SiteModel(index, config, spec, views.index(view), kept, len(class_names)))
        class_names += [spec.class_names[k] for k in kept]
    return SiteModels(tuple(models), tuple(views), tuple(class_names))
