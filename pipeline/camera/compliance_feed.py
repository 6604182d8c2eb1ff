"""The camera process's side of the compliance analytics: it feeds the camera's
ComplianceMonitor every answered frame on the camera's own timeline and acts on what comes
back (violation events to `events.jsonl` and the log, persons and open violations to the
status board, disabled zones to the log)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from pipeline.analytics import (
    ComplianceMonitor,
    EventKind,
    EventSource,
    FrameAnalysis,
    ViolationEvent,
    ZoneSpec,
)
from pipeline.analytics.events import utc_iso
from pipeline.camera.outputs import JsonLines
from pipeline.camera.sources import CapturedFrame
from pipeline.config.models import SiteConfig
from pipeline.config.prompts import ClassRoles
from pipeline.config.sources import CameraConfig, FileSource, SyntheticSource
from pipeline.detections import Detections
from pipeline.events.emitter import EventEmitter
from pipeline.events.schema import EventType
from pipeline.shm.board import BoardRow

logger = logging.getLogger(__name__)


class ComplianceFeed:
    """`fps`: the rate frames are analysed at; `input_size`: the person detector's input
    (width, height), for judging how small a worker is as the detector sees them."""

    def __init__(
        self,
        site: SiteConfig,
        camera: CameraConfig,
        zones: tuple[ZoneSpec, ...],
        roles: ClassRoles,
        run_id: str,
        fps: float,
        source_fps: float,
        input_size: tuple[int, int],
        events: JsonLines | None,
        row: BoardRow,
        emitter: EventEmitter | None = None,
    ) -> None:
        self.monitor = ComplianceMonitor(
            EventSource(site.site, camera.id, run_id),
            zones,
            roles,
            site.compliance,
            fps,
            input_size,
        )
        # Files and synthetic scenes may be read faster or slower than real time: their own
        # frame numbers are their clock. Live sources: the moment each frame was decoded.
        self._source_clock = isinstance(camera.source, FileSource | SyntheticSource)
        self._source_fps = source_fps
        self._events = events
        self._emitter = emitter
        self._row = row
        self._last_t: float | None = None
        self._clock_offset = time.time() - time.monotonic()  # camera timeline -> Unix time

    def frame_time(self, frame: CapturedFrame) -> float:
        """The frame's time on the camera's timeline, seconds, strictly increasing."""
        t = frame.index / self._source_fps if self._source_clock else frame.captured_at
        if self._last_t is not None and t <= self._last_t:
            t = self._last_t + 1e-6  # a reopened file starts its numbering again
        if self._source_clock and self._last_t is None:
            self._clock_offset = time.time() - t
        return t

    def update(self, frame: CapturedFrame, detections: Detections) -> FrameAnalysis:
        t = self.frame_time(frame)
        height, width = frame.image.shape[:2]
        analysis = self.monitor.update(detections, t, (width, height))
        self._last_t = t
        for problem in analysis.zone_problems:
            logger.warning("%s; that zone is disabled, the camera goes on", problem)
        self._row.persons = len(analysis.persons)
        self._row.violations_open = analysis.open_violations
        return analysis

    def close(self) -> tuple[ViolationEvent, ...]:
        """End open episodes (reason `stopped`) at the last frame's time; the caller emits
        the end events (with their evidence)."""
        self._row.violations_open = 0
        if self._last_t is None:
            return ()
        return self.monitor.close(self._last_t + 1e-6)

    def emit(
        self, events: Sequence[ViolationEvent], evidence: Mapping[str, Mapping[str, str]]
    ) -> None:
        """Tell of `events`: the log, `events.jsonl`, the outbox. `evidence`: per episode id,
        the paths of its snapshots and clip (relative to the run folder)."""
        for event in events:
            refs = dict(evidence.get(event.episode_id, {}))
            if event.kind is EventKind.START:
                self._row.violations_total += 1
                logger.warning(
                    "Violation in zone %s: worker #%d without %s (episode %s)",
                    event.zone,
                    event.track_id,
                    ", ".join(item.value for item in event.missing),
                    event.episode_id[:8],
                )
            else:
                logger.info(
                    "Violation ended in zone %s: worker #%d, %s (episode %s)",
                    event.zone,
                    event.track_id,
                    event.end_reason.value if event.end_reason else "",
                    event.episode_id[:8],
                )
            if self._events is not None:
                self._events.append({**event.to_json(self._clock_offset), **refs})
            if self._emitter is not None:
                self._deliver(event, refs)

    def _deliver(self, event: ViolationEvent, refs: dict[str, str]) -> None:
        """Into the outbox for the site's sinks (MQTT, webhooks...): stored before anyone is
        told, delivered by the delivery process. The episode and kind make the id, so a start
        emitted twice is stored once."""
        assert self._emitter is not None
        offset = self._clock_offset
        payload: dict[str, object] = {
            "zone": event.zone,
            "track_id": max(event.track_id, 0),
            "missing": [item.value for item in event.missing],
            "started_at": utc_iso(event.started_at + offset),
            "confidence": min(1.0, max(0.0, event.confidence)),
            "box": list(event.box),
            **refs,
        }
        kind = EventType.VIOLATION_START
        if event.kind is EventKind.END and event.ended_at is not None:
            kind = EventType.VIOLATION_END
            payload["ended_at"] = utc_iso(event.ended_at + offset)
            payload["duration_s"] = max(0.0, event.ended_at - event.started_at)
        self._emitter.emit(kind, payload, key=(event.episode_id,), when=event.time + offset)
