"""ROI files (`--roi`, `roi:`): named zone polygons, in frame pixels or in fractions of the frame.

Two shapes of JSON object are accepted:

1. Pixels (the predecessor's format): polygon name -> points in pixels of the camera's frame,
   x to the right, y down, (0, 0) the top-left corner of the top-left pixel:

       {"roi_epi_on": [[40, 150], [600, 150], [630, 350], [10, 350]],
        "walkway":    [[0, 300], [640, 300], [640, 360], [0, 360]]}

2. With explicit units, `"pixels"` or `"normalized"` (fractions of the frame's width and
   height, 0-1, so one file fits a camera at any resolution):

       {"units": "normalized",
        "polygons": {"roi_epi_on": [[0.06, 0.42], [0.94, 0.42], [0.98, 0.97], [0.02, 0.97]]}}

A file is of the second shape when it has a `"polygons"` object; then `"units"` is required.
A file of the first shape whose coordinates all lie within 0-1 is refused: such polygons are
almost certainly fractions written without the marker (a pixel zone that small holds nobody).

Checked here, when the site starts (ConfigError naming the file, the line and the polygon):
not JSON, a polygon with fewer than 3 points or a point that is not two finite numbers, a
point repeated consecutively, an edge crossing another (self-intersection), no area, a
normalised coordinate outside 0-1, and (`select`) names that the file does not have. Points
outside a camera's frame can only be checked once its size is known: `zones.place_zones`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.analytics.geometry import self_intersection
from pipeline.config.loading import ConfigError


class Units(str, Enum):
    PIXELS = "pixels"
    NORMALIZED = "normalized"


@dataclass(frozen=True, eq=False)
class RoiPolygon:
    name: str
    points: np.ndarray  # (N, 2) float64, in `units` of its file
    units: Units
    where: str  # "file:line" of the polygon, for messages


@dataclass(frozen=True)
class RoiFile:
    path: Path
    units: Units
    polygons: dict[str, RoiPolygon]

    def select(self, names: Sequence[str] | None) -> tuple[RoiPolygon, ...]:
        """The polygons named (in that order), or all of them (file order) for None."""
        if names is None:
            return tuple(self.polygons.values())
        missing = [name for name in names if name not in self.polygons]
        if missing:
            raise ConfigError(
                [
                    f"{self.path}: no polygon named {', '.join(repr(n) for n in missing)}; "
                    f"the file has: {', '.join(self.polygons)} (check roi_polys / --roi-polys)"
                ]
            )
        repeated = sorted({name for name in names if list(names).count(name) > 1})
        if repeated:
            raise ConfigError([f"roi_polys names {', '.join(repeated)} more than once"])
        return tuple(self.polygons[name] for name in names)


def load_roi_file(path: Path) -> RoiFile:
    """Read and check an ROI file (module docstring). Raises ConfigError listing every problem."""
    if not path.is_file():
        raise ConfigError([f"{path}: ROI file not found"])
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        line = getattr(error, "lineno", None)
        raise ConfigError([f"{path}:{line or 1}: not valid JSON: {error}"]) from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(
            [f'{path}: expected an object of named polygons, e.g. {{"zone": [[x, y], ...]}}']
        )
    units, raw = _shape(path, data)
    problems: list[str] = []
    polygons: dict[str, RoiPolygon] = {}
    for name, value in raw.items():
        where = f"{path}:{_line_of(text, name)}"
        points, problem = _points(value)
        if problem is None:
            assert points is not None
            problem = _check_polygon(points, units)
        if problem is not None:
            problems.append(f"{where}: polygon '{name}' {problem}")
            continue
        assert points is not None
        polygons[name] = RoiPolygon(name, points, units, where)
    if problems:
        raise ConfigError(problems)
    if units is Units.PIXELS and not isinstance(data.get("polygons"), dict):
        coordinates = np.concatenate([polygon.points for polygon in polygons.values()])
        if float(coordinates.max()) <= 1.0:
            raise ConfigError(
                [
                    f"{path}: every coordinate lies within 0-1, which as pixels holds nobody; if "
                    f'these are fractions of the frame, write {{"units": "normalized", '
                    f'"polygons": {{...}}}}'
                ]
            )
    return RoiFile(path, units, polygons)


def _shape(path: Path, data: dict[str, Any]) -> tuple[Units, dict[str, Any]]:
    """(units, name -> raw points) of either accepted shape."""
    if not isinstance(data.get("polygons"), dict):
        if "units" in data:
            raise ConfigError(
                [
                    f'{path}: with "units", the polygons go under "polygons": {{"units": '
                    f'"normalized", "polygons": {{"zone": [[x, y], ...]}}}}'
                ]
            )
        return Units.PIXELS, data
    extra = sorted(set(data) - {"units", "polygons"})
    if extra:
        raise ConfigError(
            [
                f"{path}: unknown keys {', '.join(extra)} beside 'polygons' (only 'units' may be there)"
            ]
        )
    choices = ", ".join(repr(u.value) for u in Units)
    units = data.get("units")
    if units not in {u.value for u in Units}:
        raise ConfigError([f"{path}: 'units' must be one of {choices} (got {units!r})"])
    if not data["polygons"]:
        raise ConfigError([f"{path}: 'polygons' is empty"])
    return Units(units), data["polygons"]


def _points(value: object) -> tuple[np.ndarray | None, str | None]:
    if not isinstance(value, list) or len(value) < 3:
        return None, "needs at least 3 [x, y] points"
    for index, point in enumerate(value):
        if not (
            isinstance(point, list)
            and len(point) == 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in point)
            and all(math.isfinite(c) for c in point)
        ):
            return None, f"point {index} is {json.dumps(point)}, not [x, y] with two numbers"
    return np.asarray(value, dtype=np.float64), None


def _check_polygon(points: np.ndarray, units: Units) -> str | None:
    for index in range(len(points)):
        if np.array_equal(points[index], points[(index + 1) % len(points)]):
            return f"repeats point {index} ({_format(points[index])}) right after itself"
    if units is Units.NORMALIZED:
        outside = np.flatnonzero(((points < 0) | (points > 1)).any(axis=1))
        if len(outside):
            index = int(outside[0])
            return f"point {index} ({_format(points[index])}) is outside 0-1 (units: normalized)"
    if np.linalg.matrix_rank(points - points[0]) < 2:
        return "has no area (all points on one line)"
    crossing = self_intersection(points)
    if crossing is not None:
        i, j = crossing
        count = len(points)
        return (
            f"crosses itself: edge {i}-{(i + 1) % count} meets edge {j}-{(j + 1) % count}; "
            f"list the points in order around the zone"
        )
    return None


def _format(point: np.ndarray) -> str:
    return f"{point[0]:g}, {point[1]:g}"


def _line_of(text: str, name: str) -> int:
    """1-based line where the key `name` is written (1 when not found as written)."""
    key = re.compile(re.escape(json.dumps(name)) + r"\s*:")
    for number, line in enumerate(text.splitlines(), start=1):
        if key.search(line):
            return number
    return 1
