"""One camera's compliance analytics: the only object the camera process talks to.

    monitor = ComplianceMonitor(source, zones, roles, config, frame_rate, input_size)
    analysis = monitor.update(detections, t, (width, height))   # every answered frame
    ... draw analysis.persons, write analysis.events, log analysis.zone_problems ...
    events = monitor.close(t)                                    # at shutdown

Per frame: person boxes (every class whose role is `person`, duplicates from two models
merged) -> the camera's tracker -> PPE boxes given to persons (association.py) -> zone
membership by anchor point (zones.py) -> per track and item evidence and episodes
(evidence.py, violations.py) -> events. Pure: no processes, no I/O, no clocks; `t` is the
frame's time in seconds on the camera's timeline (a monotonic capture time), strictly
increasing. Boxes are in pixels of the original frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from pipeline.analytics.association import ITEMS, NOBODY, Sightings, ppe_rows, sight
from pipeline.analytics.events import EventSource, ViolationEvent
from pipeline.analytics.evidence import Evidence, ItemState, classify
from pipeline.analytics.geometry import box_iou
from pipeline.analytics.tracker import PersonTracker
from pipeline.analytics.violations import Observation, TrackView, ViolationBook
from pipeline.analytics.zones import PlacedZone, ZonePlacement, ZoneSpec, place_zones
from pipeline.config.compliance import ComplianceConfig, PpeItem
from pipeline.config.prompts import ClassRoles, Role
from pipeline.detections import NO_TRACK, Detections

HEAD_CUT_PX = 1.0  # a person box starting this close to the frame's top may have lost its head


class ComplianceState(str, Enum):
    """A person's state for drawing (worst over the required items)."""

    OUTSIDE = "outside"  # in no zone that requires anything
    UNKNOWN = "unknown"  # required items never judged yet (too small so far, or untracked)
    COMPLIANT = "compliant"
    SUSPECT = "suspect"
    VIOLATION = "violation"


@dataclass(frozen=True)
class PersonStatus:
    track_id: int  # NO_TRACK for a person the tracker has not confirmed
    box: tuple[float, float, float, float]  # original-frame pixels
    score: float
    state: ComplianceState
    zones: tuple[str, ...]
    required: tuple[PpeItem, ...]
    missing: tuple[PpeItem, ...]  # required items now suspect or in violation
    worn: tuple[PpeItem, ...]  # items seen worn in this frame
    judged: bool  # large enough to judge in this frame
    alerting: bool  # in an episode whose start event was raised

    def label(self) -> str:
        """Short text for a drawn box: '#7 no helmet, no vest' (or '#7', '?' when untracked)."""
        name = "?" if self.track_id == NO_TRACK else f"#{self.track_id}"
        return " ".join([name, ", ".join(f"no {item.value}" for item in self.missing)]).strip()


@dataclass(frozen=True, eq=False)
class FrameAnalysis:
    t: float
    persons: tuple[PersonStatus, ...]
    events: tuple[ViolationEvent, ...]  # raised by this frame, in order
    detections: Detections  # the input, same rows: persons' track_id filled
    ppe_owner: np.ndarray  # (N,) int32 per input row: the track a PPE box counts for, else -1
    zones: tuple[PlacedZone, ...]  # usable zones on this frame
    zone_problems: tuple[str, ...]  # disabled zones: set on the frame they were placed only

    @property
    def open_violations(self) -> int:
        return sum(1 for person in self.persons if person.alerting)


class ComplianceMonitor:
    """`frame_rate`: the camera's analysed frames/s (for the tracker). `input_size`: the
    detector's (width, height) input, so `min_person_height_px` is judged as the detector
    sees the person (the frame is letterboxed into it); None: in frame pixels."""

    def __init__(
        self,
        source: EventSource,
        zones: Sequence[ZoneSpec],
        roles: ClassRoles,
        config: ComplianceConfig,
        frame_rate: float,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        self.source = source
        self.specs = tuple(zones)
        self.roles = roles
        self.config = config
        self.input_size = input_size
        self.tracker = PersonTracker(config.tracking, frame_rate)
        self.book = ViolationBook(config.rules, source)
        self._placement: ZonePlacement | None = None
        self._last_t: float | None = None

    def update(
        self, detections: Detections, t: float, frame_size: tuple[int, int]
    ) -> FrameAnalysis:
        if not math.isfinite(t) or (self._last_t is not None and t <= self._last_t):
            raise ValueError(f"t must be finite and increase from frame to frame: got {t}")
        dt = 0.0 if self._last_t is None else min(t - self._last_t, self.config.rules.max_step_s)
        self._last_t = t
        problems: tuple[str, ...] = ()
        if self._placement is None or self._placement.frame_size != tuple(frame_size):
            self._placement = place_zones(self.specs, (int(frame_size[0]), int(frame_size[1])))
            problems = self._placement.problems
        zones = self._placement.zones

        person_mask = self.roles.mask(detections.class_id, Role.PERSON)
        person_rows = np.flatnonzero(person_mask)
        kept, duplicate_of = _merge_duplicates(
            detections.xyxy[person_rows],
            detections.score[person_rows],
            self.config.tracking.person_merge_iou,
        )
        persons = self.tracker.update(detections[person_rows[kept]], t)
        ppe_mask = ppe_rows(detections, self.roles)
        sightings = sight(persons, detections[ppe_mask], self.roles, self.config.association)
        evidence = self._evidence(persons, sightings, frame_size)
        inside = np.zeros((len(zones), len(persons)), dtype=bool)
        for row, zone in enumerate(zones):
            inside[row] = zone.contains(persons.xyxy)
        here = [
            tuple(z.name for z, held in zip(zones, inside[:, p], strict=True) if held)
            for p in range(len(persons))
        ]
        observations = [
            Observation(
                track_id=int(persons.track_id[p]),
                box=persons.xyxy[p].astype(np.float64),
                score=float(persons.score[p]),
                zones=here[p],
                evidence=evidence[p],
            )
            for p in range(len(persons))
            if persons.track_id[p] != NO_TRACK
        ]
        requirements = {zone.name: zone.require for zone in zones}
        views, events = self.book.update(observations, t, dt, requirements, frame_size)
        by_track = {view.track_id: view for view in views}

        statuses = []
        for p in range(len(persons)):
            statuses.append(
                _status(
                    persons,
                    p,
                    by_track.get(int(persons.track_id[p])),
                    here[p],
                    zones,
                    evidence[p],
                    self._judgeable(persons.xyxy[p], frame_size),
                )
            )
        track_id = np.full(len(detections), NO_TRACK, dtype=np.int32)
        track_id[person_rows[kept]] = persons.track_id
        track_id[person_rows] = track_id[person_rows[kept]][duplicate_of]
        owner = np.full(len(detections), NO_TRACK, dtype=np.int32)
        owned = sightings.owner != NOBODY
        owner[np.flatnonzero(ppe_mask)[owned]] = persons.track_id[sightings.owner[owned]]
        return FrameAnalysis(
            t=t,
            persons=tuple(statuses),
            events=tuple(events),
            detections=detections.replace(track_id=track_id),
            ppe_owner=owner,
            zones=zones,
            zone_problems=problems,
        )

    def close(self, t: float) -> tuple[ViolationEvent, ...]:
        """End every open episode (reason `stopped`) when the camera stops."""
        return tuple(self.book.close(t))

    @property
    def tracks_remembered(self) -> int:
        return len(self.book)

    @property
    def open_episodes(self) -> int:
        """Violations raised and not yet ended (for the board), including occluded workers."""
        return self.book.open_episodes

    def _scale(self, frame_size: tuple[int, int]) -> float:
        """Detector-input pixels per frame pixel (the letterbox keeps the aspect)."""
        if self.input_size is None:
            return 1.0
        return min(self.input_size[0] / frame_size[0], self.input_size[1] / frame_size[1])

    def _judgeable(self, box: np.ndarray, frame_size: tuple[int, int]) -> bool:
        height = float(box[3] - box[1]) * self._scale(frame_size)
        return height >= self.config.association.min_person_height_px

    def _evidence(
        self, persons: Detections, sightings: Sightings, frame_size: tuple[int, int]
    ) -> list[dict[PpeItem, Evidence]]:
        result = []
        for p in range(len(persons)):
            judgeable = self._judgeable(persons.xyxy[p], frame_size)
            head_visible = float(persons.xyxy[p, 1]) > HEAD_CUT_PX
            per_item = {}
            for column, item in enumerate(ITEMS):
                can_judge = judgeable and (head_visible or item is not PpeItem.HELMET)
                per_item[item] = classify(
                    float(sightings.present[p, column]),
                    float(sightings.absent[p, column]),
                    can_judge,
                )
            result.append(per_item)
        return result


def _merge_duplicates(
    boxes: np.ndarray, scores: np.ndarray, merge_iou: float
) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes of one worker from two models or two person classes become one.
    Returns (kept row indices, for every row the position in `kept` of its survivor)."""
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(boxes, boxes)
    survivor = np.full(len(boxes), -1, dtype=np.intp)
    kept: list[int] = []
    for row in order:
        for position, other in enumerate(kept):
            if iou[row, other] >= merge_iou:
                survivor[row] = position
                break
        else:
            survivor[row] = len(kept)
            kept.append(int(row))
    kept_array = np.array(kept, dtype=np.intp)
    # Keep the original row order among survivors, so the tracker sees a stable order.
    ordering = np.argsort(kept_array, kind="stable")
    remap = np.empty_like(ordering)
    remap[ordering] = np.arange(len(ordering))
    return kept_array[ordering], remap[survivor] if len(survivor) else survivor


def _status(
    persons: Detections,
    p: int,
    view: TrackView | None,
    here: tuple[str, ...],
    zones: Sequence[PlacedZone],
    evidence: dict[PpeItem, Evidence],
    judged: bool,
) -> PersonStatus:
    worn = tuple(item for item in ITEMS if evidence[item] is Evidence.PRESENT)
    x1, y1, x2, y2 = (float(v) for v in persons.xyxy[p])
    if view is None:  # not confirmed by the tracker: no state yet
        required = tuple(i for i in ITEMS if any(i in z.require for z in zones if z.name in here))
        state = ComplianceState.UNKNOWN if required else ComplianceState.OUTSIDE
        missing: tuple[PpeItem, ...] = ()
        alerting = False
    else:
        here, required, alerting = view.zones, view.required, view.alerting
        missing = tuple(i for i in required if view.states[i] is not ItemState.COMPLIANT)
        if not required:
            state = ComplianceState.OUTSIDE
        elif any(view.states[i] is ItemState.VIOLATION for i in required):
            state = ComplianceState.VIOLATION
        elif missing:
            state = ComplianceState.SUSPECT
        elif not all(view.judged[i] for i in required):
            state = ComplianceState.UNKNOWN
        else:
            state = ComplianceState.COMPLIANT
    return PersonStatus(
        track_id=int(persons.track_id[p]),
        box=(x1, y1, x2, y2),
        score=float(persons.score[p]),
        state=state,
        zones=here,
        required=required,
        missing=missing,
        worn=worn,
        judged=judged,
        alerting=alerting,
    )
