"""Compliance analytics, pure (no processes, no I/O): person tracking, zones, PPE association,
violation state per worker and its events. The camera process builds one `ComplianceMonitor`
per camera, feeds it every answered frame and acts on the `FrameAnalysis` it returns."""

from pipeline.analytics.events import EndReason, EventKind, EventSource, ViolationEvent
from pipeline.analytics.evidence import Evidence, ItemState
from pipeline.analytics.monitor import (
    ComplianceMonitor,
    ComplianceState,
    FrameAnalysis,
    PersonStatus,
)
from pipeline.analytics.roi_file import RoiFile, RoiPolygon, Units, load_roi_file
from pipeline.analytics.tracker import PersonTracker
from pipeline.analytics.zones import (
    FRAME_ZONE,
    PlacedZone,
    ZonePlacement,
    ZoneSpec,
    place_zones,
    unused_zone_rules,
    zone_specs,
)
from pipeline.config.prompts import ClassRoles, PromptsFile, Role, load_prompts

__all__ = [
    "FRAME_ZONE",
    "ClassRoles",
    "ComplianceMonitor",
    "ComplianceState",
    "EndReason",
    "EventKind",
    "EventSource",
    "Evidence",
    "FrameAnalysis",
    "ItemState",
    "PersonStatus",
    "PersonTracker",
    "PlacedZone",
    "PromptsFile",
    "RoiFile",
    "RoiPolygon",
    "Role",
    "Units",
    "ViolationEvent",
    "ZonePlacement",
    "ZoneSpec",
    "load_prompts",
    "load_roi_file",
    "place_zones",
    "unused_zone_rules",
    "zone_specs",
]
