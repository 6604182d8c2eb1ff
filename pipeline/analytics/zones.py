"""Zones: a camera's active ROI polygons with what each requires, placed on its frame.

`zone_specs(...)` pairs the polygons chosen by `roi_polys` with the site's `compliance.zones`
rules (at startup, no frame yet); `place_zones(specs, frame_size)` turns them into pixel
polygons once the frame's size is known (at the first frame, and again if a stream comes
back at another size), disabling any zone with a point outside the frame and saying why.
A person is in a zone when the anchor point of the box (`compliance.anchor`, default the
bottom centre: where the feet are) lies inside the polygon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.analytics.geometry import points_in_polygon
from pipeline.analytics.roi_file import RoiPolygon, Units
from pipeline.config.compliance import Anchor, ComplianceConfig, PpeItem

FRAME_ZONE = "frame"  # the zone of a camera without ROI polygons (compliance.frame_zone)


@dataclass(frozen=True, eq=False)
class ZoneSpec:
    """A zone before the frame size is known."""

    name: str
    points: np.ndarray  # (N, 2) float64 in `units`; for the frame zone, the unit square
    units: Units
    require: tuple[PpeItem, ...]
    anchor: Anchor
    where: str  # "file:line" of the polygon ("compliance.frame_zone" for the frame zone)


@dataclass(frozen=True, eq=False)
class PlacedZone:
    """A usable zone on a frame of known size; `polygon` in pixels of the original frame."""

    name: str
    polygon: np.ndarray  # (N, 2) float64
    require: tuple[PpeItem, ...]
    anchor: Anchor
    frame_size: tuple[int, int]  # (width, height) pixels

    def contains(self, boxes: np.ndarray) -> np.ndarray:
        """(K,) bool: whether each box's anchor point lies in the zone; boxes (K, 4) xyxy.

        Anchors are first moved half a pixel inside the frame: a near worker's box is cut at
        the bottom edge, and a zone drawn to that edge must still hold his feet."""
        width, height = self.frame_size
        points = anchor_points(boxes, self.anchor)
        points = np.clip(points, 0.5, np.array([width - 0.5, height - 0.5]))
        return points_in_polygon(points, self.polygon)

    @property
    def drawable(self) -> np.ndarray:
        """(N, 1, 2) int32 points, as cv2.polylines takes them."""
        return np.round(self.polygon).astype(np.int32).reshape(-1, 1, 2)


@dataclass(frozen=True)
class ZonePlacement:
    frame_size: tuple[int, int]  # (width, height) pixels
    zones: tuple[PlacedZone, ...]  # usable, in spec order
    problems: tuple[str, ...]  # one line per disabled zone: log these


def zone_specs(
    polygons: Sequence[RoiPolygon], compliance: ComplianceConfig
) -> tuple[ZoneSpec, ...]:
    """The camera's zones: its active polygons with their rules; the whole frame as zone
    'frame' when it has none and `compliance.frame_zone` is on."""
    if not polygons:
        if not compliance.frame_zone:
            return ()
        require, anchor = compliance.rule_for(FRAME_ZONE)
        square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
        return (
            ZoneSpec(
                FRAME_ZONE, square, Units.NORMALIZED, require, anchor, "compliance.frame_zone"
            ),
        )
    specs = []
    for polygon in polygons:
        require, anchor = compliance.rule_for(polygon.name)
        specs.append(
            ZoneSpec(polygon.name, polygon.points, polygon.units, require, anchor, polygon.where)
        )
    return tuple(specs)


def unused_zone_rules(compliance: ComplianceConfig, used_names: set[str]) -> list[str]:
    """Messages for `compliance.zones` entries that name a polygon no camera uses (typos)."""
    known = used_names | {FRAME_ZONE}
    return [
        f"compliance.zones.{name}: no camera uses a polygon of that name "
        f"(active polygons: {', '.join(sorted(used_names)) or 'none'})"
        for name in compliance.zones
        if name not in known
    ]


def place_zones(specs: Sequence[ZoneSpec], frame_size: tuple[int, int]) -> ZonePlacement:
    """Zones in pixels of a (width, height) frame. A pixel polygon with a point outside the
    frame (beyond 0..width, 0..height) is disabled: it was drawn for another resolution or
    camera, and clipping it would silently watch a different area."""
    width, height = frame_size
    if width <= 0 or height <= 0:
        raise ValueError(f"frame_size must be positive (width, height), got {frame_size}")
    zones, problems = [], []
    for spec in specs:
        if spec.units is Units.NORMALIZED:
            polygon = spec.points * np.array([width, height], dtype=np.float64)
        else:
            polygon = spec.points
            outside = np.flatnonzero(
                (polygon[:, 0] < 0)
                | (polygon[:, 0] > width)
                | (polygon[:, 1] < 0)
                | (polygon[:, 1] > height)
            )
            if len(outside):
                index = int(outside[0])
                x, y = polygon[index]
                problems.append(
                    f"{spec.where}: zone '{spec.name}' disabled: point {index} ({x:g}, {y:g}) "
                    f"is outside the {width}x{height} frame; redraw it for this camera or use "
                    f'"units": "normalized"'
                )
                continue
        zones.append(PlacedZone(spec.name, polygon, spec.require, spec.anchor, (width, height)))
    return ZonePlacement((width, height), tuple(zones), tuple(problems))


def anchor_points(boxes: np.ndarray, anchor: Anchor) -> np.ndarray:
    """(K, 2) anchor points of boxes (K, 4) xyxy, same pixel space."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x = (boxes[:, 0] + boxes[:, 2]) / 2
    if anchor is Anchor.BOTTOM_CENTER:
        y = boxes[:, 3]
    elif anchor is Anchor.TOP_CENTER:
        y = boxes[:, 1]
    else:
        y = (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([x, y], axis=1)
