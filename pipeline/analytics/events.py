"""Violation events: one when an episode starts, one when it ends. Plain frozen data.

An episode is one worker (a track, or the tracks that took its place after an id switch)
lacking required PPE inside a zone; it opens when the first required item becomes a
violation and closes when none is left. Times are seconds on the camera's timeline (the `t`
the camera passes to the monitor); `to_json(clock_offset)` adds UTC wall-clock times.

Ids are stable and unique: `episode_id` is a UUID derived from the run, site, camera, first
track id and the time the start was raised (milliseconds), so the start and end of an
episode share it, a re-sent event keeps its id, and a camera restarted in the same run (its
track ids start at 0 again, its clock does not) never repeats one. `event_id` is the
episode id with `:start` or `:end`. `Episode` is an open episode as the violation book
keeps it (violations.py), and builds its two events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pipeline.config.compliance import PpeItem

_NAMESPACE = uuid.UUID("6f1c7a0e-3b52-4d8e-9a41-2c5e8f0b7d13")  # this runtime's violation events


class EventKind(str, Enum):
    START = "violation_start"
    END = "violation_end"


class EndReason(str, Enum):
    COMPLIED = "complied"  # the missing items were seen worn for clear_s
    LEFT_ZONE = "left_zone"  # outside every zone requiring them for zone_exit_s
    TRACK_LOST = "track_lost"  # unseen for lost_grace_s (ended_at: last seen)
    STOPPED = "stopped"  # the camera stopped with the episode open


@dataclass(frozen=True)
class EventSource:
    """Where events come from: names every event carries."""

    site: str
    camera: str
    run_id: str = ""  # e.g. the run folder's name: keeps ids unique across runs


@dataclass(frozen=True)
class ViolationEvent:
    kind: EventKind
    event_id: str
    episode_id: str
    site: str
    camera: str
    zone: str  # the zone the worker was in when the episode started
    track_id: int  # the track at the start
    track_ids: tuple[int, ...]  # every track of this worker in the episode (id switches)
    missing: tuple[PpeItem, ...]  # start: items in violation; end: all items of the episode
    started_at: float  # when the items went unseen (the evidence's onset)
    raised_at: float  # when the start was raised (>= started_at + min_violation_s in effect)
    ended_at: float | None  # END only: when it ended (track lost: when last seen)
    end_reason: EndReason | None  # END only
    time: float  # the frame time at which this event was emitted
    confidence: float  # 0-1: mean person score x share of the episode the items were unseen
    box: tuple[float, float, float, float]  # the person box at `time`, original-frame pixels

    def to_json(self, clock_offset: float | None = None) -> dict[str, Any]:
        """A JSON-ready dict for `events.jsonl`. With `clock_offset` (Unix time minus the
        camera's timeline, seconds), each time also appears as UTC ISO 8601 (`*_utc`)."""
        record: dict[str, Any] = {
            "type": self.kind.value,
            "event_id": self.event_id,
            "episode_id": self.episode_id,
            "site": self.site,
            "camera": self.camera,
            "zone": self.zone,
            "track_id": self.track_id,
            "track_ids": list(self.track_ids),
            "missing": [item.value for item in self.missing],
            "started_at": round(self.started_at, 3),
            "raised_at": round(self.raised_at, 3),
            "ended_at": None if self.ended_at is None else round(self.ended_at, 3),
            "end_reason": None if self.end_reason is None else self.end_reason.value,
            "time": round(self.time, 3),
            "confidence": round(self.confidence, 3),
            "box": [round(value, 1) for value in self.box],
        }
        if clock_offset is not None:
            for key in ("started_at", "raised_at", "ended_at", "time"):
                value = getattr(self, key)
                record[f"{key}_utc"] = None if value is None else utc_iso(value + clock_offset)
        return record


@dataclass
class Episode:
    """Mutable: one worker's episode while it is open. `track_ids`: the tracks that followed
    the worker (the first names the episode); `unseen_s` / `seen_s`: seconds its missing
    items were judged missing / present, for the confidence."""

    started_at: float
    zone: str
    missing: list[PpeItem]
    track_ids: list[int]
    raised_at: float | None = None  # None: not raised yet (held by the cooldown)
    episode_id: str = ""
    score_sum: float = 0.0
    score_frames: int = 0
    unseen_s: float = 0.0
    seen_s: float = 0.0
    end_reason: EndReason = EndReason.COMPLIED

    def confidence(self) -> float:
        score = self.score_sum / self.score_frames if self.score_frames else 0.0
        judged = self.unseen_s + self.seen_s
        return score * (self.unseen_s / judged if judged > 0 else 1.0)

    def start(self, source: EventSource, box: Iterable[float], t: float) -> ViolationEvent:
        """Raise the episode at `t` (the worker's person box `box`)."""
        self.raised_at = t
        self.episode_id = episode_id(source, self.track_ids[0], t)
        return self._event(EventKind.START, source, box, t, None)

    def end(
        self, source: EventSource, box: Iterable[float], t: float, ended_at: float
    ) -> ViolationEvent:
        return self._event(EventKind.END, source, box, t, ended_at)

    def _event(
        self,
        kind: EventKind,
        source: EventSource,
        box: Iterable[float],
        t: float,
        ended_at: float | None,
    ) -> ViolationEvent:
        assert self.raised_at is not None
        suffix = "start" if kind is EventKind.START else "end"
        x1, y1, x2, y2 = (float(v) for v in box)
        return ViolationEvent(
            kind=kind,
            event_id=f"{self.episode_id}:{suffix}",
            episode_id=self.episode_id,
            site=source.site,
            camera=source.camera,
            zone=self.zone,
            track_id=self.track_ids[0],
            track_ids=tuple(self.track_ids),
            missing=tuple(self.missing),
            started_at=self.started_at,
            raised_at=self.raised_at,
            ended_at=ended_at,
            end_reason=self.end_reason if kind is EventKind.END else None,
            time=t,
            confidence=self.confidence(),
            box=(x1, y1, x2, y2),
        )


def episode_id(source: EventSource, track_id: int, raised_at: float) -> str:
    name = f"{source.run_id}/{source.site}/{source.camera}/{track_id}/{round(raised_at * 1000)}"
    return str(uuid.uuid5(_NAMESPACE, name))


def utc_iso(unix_time: float) -> str:
    moment = datetime.fromtimestamp(unix_time, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
