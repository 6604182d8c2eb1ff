"""ROI files (pixels or normalised), their checks at startup and at the first frame, and zone
membership by anchor point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.analytics import (
    FRAME_ZONE,
    Units,
    load_roi_file,
    place_zones,
    unused_zone_rules,
    zone_specs,
)
from pipeline.analytics.geometry import points_in_polygon, self_intersection
from pipeline.config.compliance import Anchor, ComplianceConfig, PpeItem, ZoneRule
from pipeline.config.loading import ConfigError

REPO = Path(__file__).resolve().parents[2]
SQUARE = [[100, 100], [300, 100], [300, 300], [100, 300]]


def write(tmp_path: Path, content: object) -> Path:
    """One key per line, as people write these files (so line numbers can be checked)."""
    path = tmp_path / "roi.json"
    if not isinstance(content, str):
        lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in content.items()]
        content = "{\n" + ",\n".join(lines) + "\n}\n"
    path.write_text(content)
    return path


def test_the_demo_file_loads_as_pixels():
    roi = load_roi_file(REPO / "configs" / "demo-roi.json")
    assert roi.units is Units.PIXELS
    assert list(roi.polygons) == ["roi_epi_on", "walkway"]
    assert roi.polygons["roi_epi_on"].points.shape == (4, 2)


def test_normalized_file_scales_to_any_frame(tmp_path):
    path = write(tmp_path, {"units": "normalized", "polygons": {"a": [[0, 0], [0.5, 0], [0.5, 1]]}})
    roi = load_roi_file(path)
    specs = zone_specs(roi.select(None), ComplianceConfig())
    for size in [(640, 360), (1920, 1080)]:
        placed = place_zones(specs, size)
        assert not placed.problems
        assert placed.zones[0].polygon.tolist() == [
            [0, 0],
            [size[0] / 2, 0],
            [size[0] / 2, size[1]],
        ]


BAD_FILES = [
    ("not json", '{"a": [[0, 0], [1, 1]', "roi.json:1: not valid JSON"),
    ("empty", {}, "expected an object of named polygons"),
    ("two points", {"a": [[0, 0], [10, 10]]}, "roi.json:2: polygon 'a' needs at least 3"),
    ("not numbers", {"a": [[0, 0], [10, "x"], [5, 9]]}, 'point 1 is [10, "x"]'),
    ("three numbers", {"a": [[0, 0, 1], [10, 0], [5, 9]]}, "point 0 is [0, 0, 1]"),
    ("repeated point", {"a": [[0, 0], [10, 0], [10, 0], [5, 9]]}, "repeats point 1 (10, 0)"),
    (
        "bow tie",
        {"a": [[0, 0], [100, 100], [100, 0], [0, 100]]},
        "crosses itself: edge 0-1 meets edge 2-3",
    ),
    ("on one line", {"a": [[0, 0], [50, 50], [100, 100]]}, "has no area"),
    ("spike back", {"a": [[0, 0], [100, 0], [50, 0], [50, 50]]}, "crosses itself"),
    ("fractions unmarked", {"a": [[0, 0], [0.5, 0], [0.5, 1]]}, 'write {"units": "normalized"'),
    (
        "normalized out of range",
        {"units": "normalized", "polygons": {"a": [[0, 0], [1.2, 0], [0.5, 1]]}},
        "point 1 (1.2, 0) is outside 0-1",
    ),
    ("units unknown", {"units": "cm", "polygons": {"a": SQUARE}}, "'units' must be one of"),
    ("units without polygons", {"units": "pixels", "a": SQUARE}, 'go under "polygons"'),
    ("stray key", {"units": "pixels", "polygons": {"a": SQUARE}, "b": 1}, "unknown keys b"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_roi_files_are_refused_with_file_and_polygon_named(tmp_path, name, content, message):
    path = write(tmp_path, content)
    with pytest.raises(ConfigError) as error:
        load_roi_file(path)
    assert message in str(error.value), str(error.value)
    assert str(path) in str(error.value)


def test_every_bad_polygon_is_reported_at_once(tmp_path):
    path = write(tmp_path, {"ok": SQUARE, "b": [[0, 0]], "c": [[0, 0], [9, 9], [9, 0], [0, 9]]})
    with pytest.raises(ConfigError) as error:
        load_roi_file(path)
    assert len(error.value.problems) == 2
    assert "roi.json:3: polygon 'b'" in error.value.problems[0]
    assert "roi.json:4: polygon 'c'" in error.value.problems[1]


def test_selecting_polygons_by_name(tmp_path):
    roi = load_roi_file(write(tmp_path, {"a": SQUARE, "b": SQUARE, "c": SQUARE}))
    assert [p.name for p in roi.select(["c", "a"])] == ["c", "a"]
    assert [p.name for p in roi.select(None)] == ["a", "b", "c"]
    with pytest.raises(ConfigError, match=r"no polygon named 'x'; the file has: a, b, c"):
        roi.select(["a", "x"])
    with pytest.raises(ConfigError, match="names a more than once"):
        roi.select(["a", "a"])


def test_a_zone_outside_the_frame_is_disabled_and_the_rest_keep_working(tmp_path):
    path = write(tmp_path, {"inside": SQUARE, "wide": [[0, 0], [1920, 0], [1920, 1080], [0, 1080]]})
    specs = zone_specs(load_roi_file(path).select(None), ComplianceConfig())
    placed = place_zones(specs, (640, 360))
    assert [zone.name for zone in placed.zones] == ["inside"]
    (problem,) = placed.problems
    assert problem.startswith(f"{path}:3: zone 'wide' disabled: point 1 (1920, 0)")
    assert "outside the 640x360 frame" in problem
    assert not place_zones(specs, (1920, 1080)).problems


def test_zone_rules_come_from_the_site_with_a_default_of_both():
    compliance = ComplianceConfig(
        zones={"walkway": ZoneRule(require=(PpeItem.VEST,), anchor=Anchor.CENTER)}
    )
    roi = load_roi_file(REPO / "configs" / "demo-roi.json")
    specs = {spec.name: spec for spec in zone_specs(roi.select(None), compliance)}
    assert specs["roi_epi_on"].require == (PpeItem.HELMET, PpeItem.VEST)
    assert specs["roi_epi_on"].anchor is Anchor.BOTTOM_CENTER
    assert specs["walkway"].require == (PpeItem.VEST,)
    assert specs["walkway"].anchor is Anchor.CENTER
    assert ComplianceConfig(zones={"x": ZoneRule(require=())}).rule_for("x")[0] == ()


def test_rules_for_polygons_nobody_uses_are_reported():
    compliance = ComplianceConfig(zones={"roi_epi_on": ZoneRule(), "roi_epi_onn": ZoneRule()})
    (message,) = unused_zone_rules(compliance, {"roi_epi_on", "walkway"})
    assert message.startswith("compliance.zones.roi_epi_onn: no camera uses")


def test_a_camera_without_polygons_watches_the_whole_frame():
    (spec,) = zone_specs((), ComplianceConfig())
    assert spec.name == FRAME_ZONE
    (zone,) = place_zones((spec,), (640, 360)).zones
    # Feet on the bottom edge (a near worker cut by the frame) still count as inside.
    boxes = np.array([[10, 200, 50, 360], [600, 0, 640, 100]], dtype=np.float32)
    assert zone.contains(boxes).tolist() == [True, True]
    assert zone_specs((), ComplianceConfig(frame_zone=False)) == ()


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (Anchor.BOTTOM_CENTER, [False, True, True, False]),
        (Anchor.CENTER, [True, True, False, False]),
        (Anchor.TOP_CENTER, [True, True, False, False]),
    ],
)
def test_membership_by_anchor_point(tmp_path, anchor, expected):
    roi = load_roi_file(write(tmp_path, {"a": SQUARE}))  # x and y 100-300
    (zone,) = place_zones(
        zone_specs(roi.select(None), ComplianceConfig(anchor=anchor)), (640, 360)
    ).zones
    boxes = np.array(
        [
            [150, 120, 180, 320],  # feet below the zone, middle and head in it
            [150, 200, 180, 290],  # wholly in
            [150, 40, 180, 150],  # feet in, middle and head above the zone
            [400, 120, 430, 200],  # beside the zone
        ],
        dtype=np.float32,
    )
    assert zone.contains(boxes).tolist() == expected


def test_point_in_a_concave_polygon():
    polygon = np.array([[0, 0], [100, 0], [100, 100], [50, 40], [0, 100]], dtype=np.float64)
    points = np.array([[50, 20], [50, 80], [10, 80], [90, 80], [150, 50]])
    assert points_in_polygon(points, polygon).tolist() == [True, False, True, True, False]


def test_simple_polygons_have_no_self_intersection():
    assert self_intersection(np.array(SQUARE, dtype=np.float64)) is None
    assert self_intersection(np.array([[0, 0], [100, 0], [100, 100], [50, 40], [0, 100]])) is None
