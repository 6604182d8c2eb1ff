"""Scripted workers for analytics tests: what a detector would report at time t.

A worker walks at constant velocity between `enter` and `leave` (seconds); his person box
stands on the feet point, `height` pixels tall and 0.35 x height wide, in a 640x360 frame.
Helmet, vest and `head` boxes sit where the synthetic worksite puts them (fractions of the
person box measured on its ground truth). Scripts say when the helmet or vest is off, when
the whole worker is hidden (occlusion: no boxes at all), and when the detector misses the
helmet although it is worn (flicker), all as time intervals, so the same script gives the
same timeline at any frame rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.analytics import (
    ClassRoles,
    ComplianceMonitor,
    EventSource,
    FrameAnalysis,
    ZoneSpec,
    zone_specs,
)
from pipeline.config.compliance import ComplianceConfig
from pipeline.detections import Detections

CLASS_NAMES = ("person", "helmet", "vest", "head")
PERSON, HELMET, VEST, HEAD = range(4)
FRAME = (640, 360)

Intervals = tuple[tuple[float, float], ...]


def during(intervals: Intervals, t: float) -> bool:
    return any(start <= t < end for start, end in intervals)


@dataclass(frozen=True)
class Worker:
    feet: tuple[float, float]  # feet point at `enter`, frame pixels
    height: float = 120.0  # person box height, pixels
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per second
    enter: float = 0.0
    leave: float = 1e9
    helmet_off: Intervals = ()
    vest_off: Intervals = ()
    hidden: Intervals = ()
    helmet_missed: Intervals = ()  # worn but not detected
    head_when_bare: bool = False  # the detector reports a `head` box when no helmet is worn
    score: float = 0.9

    def feet_at(self, t: float) -> tuple[float, float]:
        dt = t - self.enter
        return (self.feet[0] + self.velocity[0] * dt, self.feet[1] + self.velocity[1] * dt)

    def rows(self, t: float) -> list[tuple[float, float, float, float, float, int]]:
        if not (self.enter <= t < self.leave) or during(self.hidden, t):
            return []
        x, y = self.feet_at(t)
        w, h = 0.35 * self.height, self.height
        x1, y1 = x - w / 2, y - h

        def part(left: float, top: float, right: float, bottom: float) -> tuple[float, ...]:
            return (x1 + left * w, y1 + top * h, x1 + right * w, y1 + bottom * h)

        rows = [(x1, y1, x1 + w, y, self.score, PERSON)]
        if not during(self.helmet_off, t):
            if not during(self.helmet_missed, t):
                rows.append((*part(0.22, 0.0, 0.78, 0.1), 0.8, HELMET))
        elif self.head_when_bare:
            rows.append((*part(0.3, 0.02, 0.7, 0.12), 0.7, HEAD))
        if not during(self.vest_off, t):
            rows.append((*part(0.25, 0.16, 0.74, 0.46), 0.8, VEST))
        return rows  # type: ignore[return-value]


def detections_at(workers: Sequence[Worker], t: float) -> Detections:
    rows = [row for worker in workers for row in worker.rows(t)]
    if not rows:
        return Detections.empty()
    array = np.array(rows, dtype=np.float64)
    return Detections.create(array[:, 0:4], array[:, 4], array[:, 5])


def make_monitor(
    config: ComplianceConfig | None = None,
    fps: float = 10.0,
    camera: str = "CAM1",
    zones: Sequence[ZoneSpec] | None = None,
    input_size: tuple[int, int] | None = None,
) -> ComplianceMonitor:
    """A monitor for CLASS_NAMES; without `zones`, the whole frame is the zone."""
    config = config or ComplianceConfig()
    return ComplianceMonitor(
        EventSource("site", camera, "run"),
        zone_specs((), config) if zones is None else zones,
        ClassRoles.from_names(CLASS_NAMES),
        config,
        frame_rate=fps,
        input_size=input_size,
    )


def run(
    workers: Sequence[Worker],
    duration: float,
    fps: float,
    monitor: ComplianceMonitor | None = None,
    extra: Callable[[float], Detections] | None = None,
) -> tuple[list, list[FrameAnalysis]]:
    """Feed frames at `fps` from t = 1/fps to `duration`, then close. Returns (events, analyses)."""
    monitor = monitor or make_monitor(fps=fps)
    events, analyses = [], []
    frames = round(duration * fps)
    for index in range(1, frames + 1):
        t = index / fps
        detections = detections_at(workers, t)
        if extra is not None:
            detections = Detections.concat([detections, extra(t)])
        analysis = monitor.update(detections, t, FRAME)
        events.extend(analysis.events)
        analyses.append(analysis)
    events.extend(monitor.close(frames / fps))
    return events, analyses
