"""The `compliance:` section: documented defaults, zone rules, and refusals."""

from __future__ import annotations

import pydantic
import pytest
import yaml

from pipeline.config.compliance import (
    Anchor,
    ComplianceConfig,
    PpeItem,
    ViolationRules,
)

SECTION = """
default_require: [helmet, vest]
anchor: bottom_center
frame_zone: true
zones:
  roi_epi_on: {require: [helmet, vest]}
  walkway: {require: [vest], anchor: center}
  parking: {require: []}
tracking: {lost_track_s: 1.0}
association: {min_person_height_px: 24, head: {left: 0.1, top: -0.1, right: 0.9, bottom: 0.25}}
rules: {min_violation_s: 3.0, clear_s: 2.0, cooldown_s: 30.0}
"""


def test_the_documented_section_parses():
    config = ComplianceConfig.model_validate(yaml.safe_load(SECTION))
    assert config.rule_for("roi_epi_on") == ((PpeItem.HELMET, PpeItem.VEST), Anchor.BOTTOM_CENTER)
    assert config.rule_for("walkway") == ((PpeItem.VEST,), Anchor.CENTER)
    assert config.rule_for("parking") == ((), Anchor.BOTTOM_CENTER)
    assert config.rule_for("unlisted") == ((PpeItem.HELMET, PpeItem.VEST), Anchor.BOTTOM_CENTER)
    assert config.association.head.right == 0.9


def test_defaults():
    config = ComplianceConfig()
    assert config.default_require == (PpeItem.HELMET, PpeItem.VEST)
    rules = config.rules
    assert (rules.min_violation_s, rules.clear_s, rules.cooldown_s, rules.rearm_s) == (3, 2, 30, 10)
    assert (rules.lost_grace_s, rules.takeover_s, rules.takeover_iou) == (4, 4, 0.3)
    assert rules.takeover_distance == 1.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"default_require": ["helmet", "gloves"]}, "'helmet' or 'vest'"),
        ({"default_require": ["helmet", "helmet"]}, "lists an item twice"),
        ({"zones": {"a": {"requires": ["vest"]}}}, "Extra inputs are not permitted"),
        ({"anchor": "feet"}, "'bottom_center', 'center' or 'top_center'"),
        ({"rules": {"min_violation_s": 0}}, "greater than 0"),
        ({"rules": {"takeover_s": 4, "lost_grace_s": 3}}, "takeover_s (4) must be <= lost_grace_s"),
        (
            {"association": {"torso": {"left": 0, "top": 0.7, "right": 1, "bottom": 0.2}}},
            "top < bottom",
        ),
    ],
)
def test_mistakes_are_refused(data, message):
    with pytest.raises(pydantic.ValidationError) as error:
        ComplianceConfig.model_validate(data)
    assert message in str(error.value)


def test_frozen():
    with pytest.raises(pydantic.ValidationError):
        ViolationRules().min_violation_s = 1.0  # type: ignore[misc]
