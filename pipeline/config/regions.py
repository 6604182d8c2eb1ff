"""The predecessor's side files: ROI polygons (`--roi`, `--roi-polys`) and prompts (`--prompts`).

ROI file (JSON): an object mapping a polygon name to its points in original-frame pixels,
`{"roi_epi_on": [[x, y], [x, y], [x, y], ...], "other": [...]}`.

Prompts file (YAML): the detector's classes and the text prompts each was exported with,
`classes: {person: [person, worker], helmet: [hard hat], vest: [reflective vest]}`. The runtime
checks that the loaded model knows every class the prompts name; exporting bakes the prompts in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.config.loading import ConfigError
from pipeline.yaml_source import YamlSyntaxError, load_yaml


@dataclass(frozen=True)
class Polygon:
    name: str
    points: np.ndarray  # (N, 2) int32, original-frame pixels


def load_roi_polygons(path: Path, names: Sequence[str] | None) -> tuple[Polygon, ...]:
    """Polygons of `path`, only those in `names` when given (in that order)."""
    if not path.is_file():
        raise ConfigError([f"{path}: ROI file not found"])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        line = getattr(error, "lineno", None)
        raise ConfigError([f"{path}:{line or 1}: not valid JSON: {error}"]) from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(
            [f'{path}: expected an object of named polygons, e.g. {{"zone": [[x, y], ...]}}']
        )
    polygons = {}
    problems = []
    for name, points in data.items():
        array = np.asarray(points, dtype=object)
        if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] < 3:
            problems.append(f"{path}: polygon '{name}' needs at least 3 [x, y] points")
            continue
        try:
            polygons[name] = Polygon(
                name, np.asarray(points, dtype=np.float64).round().astype(np.int32)
            )
        except (TypeError, ValueError):
            problems.append(f"{path}: polygon '{name}' has a point that is not a number")
    if problems:
        raise ConfigError(problems)
    if names is None:
        return tuple(polygons.values())
    missing = [name for name in names if name not in polygons]
    if missing:
        raise ConfigError(
            [f"{path}: no polygon named {', '.join(missing)}; the file has: {', '.join(polygons)}"]
        )
    return tuple(polygons[name] for name in names)


def load_prompt_classes(path: Path) -> dict[str, tuple[str, ...]]:
    """Class name -> text prompts, from a prompts YAML (see the module docstring)."""
    if not path.is_file():
        raise ConfigError([f"{path}: prompts file not found"])
    try:
        document = load_yaml(path)
    except YamlSyntaxError as error:
        raise ConfigError([str(error)]) from None
    classes = document.data.get("classes") if isinstance(document.data, dict) else None
    line = document.line_of(("classes",))
    where = f"{path}:{line}" if line else str(path)
    if isinstance(classes, list) and all(isinstance(name, str) for name in classes):
        return {name: (name,) for name in classes}
    if not isinstance(classes, dict) or not classes:
        raise ConfigError(
            [f"{where} classes: expected a mapping of class name to a list of prompts"]
        )
    result = {}
    for name, prompts in classes.items():
        prompt_list = [prompts] if isinstance(prompts, str) else prompts
        if not isinstance(prompt_list, list) or not all(isinstance(p, str) for p in prompt_list):
            line = document.line_of(("classes", name))
            raise ConfigError([f"{path}:{line} classes.{name}: expected a list of text prompts"])
        result[str(name)] = tuple(prompt_list)
    return result
