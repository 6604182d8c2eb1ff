"""The `compliance:` section of the site file: who must wear what where, and when it counts.

```yaml
compliance:
  default_require: [helmet, vest]   # PPE a zone requires when `zones:` does not say
  anchor: bottom_center             # the point of a person box that must lie in a zone
  frame_zone: true                  # cameras without ROI polygons watch the whole frame
  zones:                            # per ROI polygon name (any camera's file)
    roi_epi_on: {require: [helmet, vest]}
    walkway: {require: [vest], anchor: center}
  tracking: {lost_track_s: 1.0}
  association: {min_person_height_px: 24}
  rules: {min_violation_s: 3.0, clear_s: 2.0, cooldown_s: 30.0}
```

All times are seconds of the camera's timeline (never frames: cameras run at different rates).
Box regions are fractions of the person box: (0, 0) its top-left corner, (1, 1) its
bottom-right; values outside 0-1 reach beyond the box (a helmet pokes above a person box).
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field, field_validator, model_validator

from pipeline.config.frozen import Frozen


class PpeItem(str, Enum):
    """Protective equipment a zone can require."""

    HELMET = "helmet"
    VEST = "vest"


class Anchor(str, Enum):
    """The point of a person box tested against a zone polygon."""

    BOTTOM_CENTER = "bottom_center"  # the feet: where the person stands (default)
    CENTER = "center"
    TOP_CENTER = "top_center"


BOTH_ITEMS = (PpeItem.HELMET, PpeItem.VEST)


def _unique_items(items: tuple[PpeItem, ...]) -> tuple[PpeItem, ...]:
    if len(set(items)) != len(items):
        raise ValueError(f"lists an item twice: {[item.value for item in items]}")
    return items


class ZoneRule(Frozen):
    """What one zone (an ROI polygon, by name) requires."""

    require: tuple[PpeItem, ...] | None = Field(
        None,
        title="PPE required inside the zone ([] for none); default: compliance.default_require",
    )
    anchor: Anchor | None = Field(None, title="Point of the person box; default: compliance.anchor")

    @field_validator("require")
    @classmethod
    def _no_duplicates(cls, items: tuple[PpeItem, ...] | None) -> tuple[PpeItem, ...] | None:
        return None if items is None else _unique_items(items)


class TrackingConfig(Frozen):
    """The per-camera person tracker (ByteTrack from the `trackers` package)."""

    lost_track_s: float = Field(
        1.0, gt=0, le=60, title="Seconds an unseen track is kept to be matched again (same id)"
    )
    activation_score: float = Field(
        0.45, gt=0, le=1, title="Lowest person score that starts a new track"
    )
    high_score: float = Field(
        0.5, gt=0, le=1, title="Person scores from here are matched first (ByteTrack's stage 1)"
    )
    min_iou: float = Field(
        0.1, gt=0, lt=1, title="Least IoU between a track's predicted box and a detection"
    )
    confirm_frames: int = Field(
        2, ge=1, le=30, title="Consecutive frames before a track gets an id"
    )
    person_merge_iou: float = Field(
        0.7,
        gt=0,
        le=1,
        title="Person boxes overlapping this much (two models, two person classes) are one",
    )


class BoxRegion(Frozen):
    """A region of the person box, in fractions of its width (x) and height (y)."""

    left: float = Field(ge=-0.5, le=1.5)
    top: float = Field(ge=-0.5, le=1.5)
    right: float = Field(ge=-0.5, le=1.5)
    bottom: float = Field(ge=-0.5, le=1.5)

    @model_validator(mode="after")
    def _ordered(self) -> BoxRegion:
        if not (self.left < self.right and self.top < self.bottom):
            raise ValueError(
                f"needs left < right and top < bottom (got left={self.left:g}, "
                f"right={self.right:g}, top={self.top:g}, bottom={self.bottom:g})"
            )
        return self


# Measured on the synthetic worksite (workers >= 40 px, fully visible): a worn helmet spans
# y 0.00-0.13 of the person box (2nd-98th percentile), a vest y 0.14-0.49; both stay inside
# the box's width. The regions below leave room for detector box error.
HEAD_REGION = BoxRegion(left=0.0, top=-0.15, right=1.0, bottom=0.3)
TORSO_REGION = BoxRegion(left=0.0, top=0.1, right=1.0, bottom=0.7)


class AssociationConfig(Frozen):
    """Which person a helmet or vest box (or a `head` box) belongs to."""

    head: BoxRegion = Field(HEAD_REGION, title="Where helmets (and `head` boxes) must lie")
    torso: BoxRegion = Field(TORSO_REGION, title="Where vests (and `no vest` boxes) must lie")
    min_inside: float = Field(
        0.6, gt=0, le=1, title="Least fraction of a PPE box's area inside the person's region"
    )
    ambiguity_margin: float = Field(
        0.15,
        ge=0,
        lt=1,
        title="A box whose fit to a second person is within this of the best counts for nobody",
    )
    min_person_height_px: float = Field(
        24.0,
        ge=0,
        le=4000,
        title="Shorter persons (model-input pixels) are too small to judge: no evidence either way",
    )


class ViolationRules(Frozen):
    """When missing PPE becomes a violation, and when a violation is over."""

    min_violation_s: float = Field(
        3.0, gt=0, le=600, title="Seconds of missing evidence before a violation starts"
    )
    clear_s: float = Field(
        2.0, gt=0, le=600, title="Seconds of presence before a violation ends (hysteresis)"
    )
    presence_drain: float = Field(
        2.0,
        gt=0,
        le=100,
        title="While suspect, one second of presence cancels this many seconds of missing evidence",
    )
    absence_weight: float = Field(
        2.0,
        ge=1,
        le=100,
        title="A `head` / `no helmet` box counts this many times as much as no box at all",
    )
    cooldown_s: float = Field(
        30.0,
        ge=0,
        le=86400,
        title="After a violation ends, the same track raises none for this long",
    )
    rearm_s: float = Field(
        10.0, ge=0, le=86400, title="...unless it was compliant (or outside the zones) this long"
    )
    zone_exit_s: float = Field(
        1.0, ge=0, le=600, title="Seconds outside every zone before a person counts as gone"
    )
    lost_grace_s: float = Field(
        4.0, ge=0, le=600, title="Seconds a track may be unseen before its violation ends"
    )
    takeover_s: float = Field(
        4.0, ge=0, le=600, title="A new track within this time of a lost one may take its place"
    )
    takeover_iou: float = Field(
        0.3, gt=0, le=1, title="Least IoU between the new box and the lost track's predicted box"
    )
    takeover_distance: float = Field(
        1.0,
        ge=0,
        le=10,
        title="...or the most distance between their centres, in person heights",
    )
    max_step_s: float = Field(
        1.0, gt=0, le=60, title="Longest time one frame's evidence stands for (frames lost)"
    )

    @model_validator(mode="after")
    def _windows(self) -> ViolationRules:
        if self.takeover_s > self.lost_grace_s:
            raise ValueError(
                f"takeover_s ({self.takeover_s:g}) must be <= lost_grace_s "
                f"({self.lost_grace_s:g}): a lost track's state is gone after lost_grace_s"
            )
        return self


class ComplianceConfig(Frozen):
    default_require: tuple[PpeItem, ...] = Field(
        BOTH_ITEMS, title="PPE required in a zone that `zones:` does not list"
    )
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, title="Point of a person box tested against zones")
    frame_zone: bool = Field(
        True, title="A camera without ROI polygons watches its whole frame (zone 'frame')"
    )
    zones: dict[str, ZoneRule] = Field(
        default_factory=dict, title="Per ROI polygon name: what the zone requires"
    )
    tracking: TrackingConfig = TrackingConfig()
    association: AssociationConfig = AssociationConfig()
    rules: ViolationRules = ViolationRules()

    @field_validator("default_require")
    @classmethod
    def _no_duplicates(cls, items: tuple[PpeItem, ...]) -> tuple[PpeItem, ...]:
        return _unique_items(items)

    def rule_for(self, zone: str) -> tuple[tuple[PpeItem, ...], Anchor]:
        """(required items, anchor) of the zone named `zone`, defaults filled in."""
        rule = self.zones.get(zone)
        if rule is None:
            return self.default_require, self.anchor
        require = self.default_require if rule.require is None else rule.require
        return require, rule.anchor or self.anchor
