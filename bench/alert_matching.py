"""Scoring of a run's events and tracks against compliance-scene truth, for bench.alerts
(whose docstring defines the matching). Times are seconds on the camera's timeline (frame
index / FPS); boxes are pixels of the camera's frame."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.analytics.geometry import box_iou
from pipeline.config.compliance import ComplianceConfig
from pipeline.synthetic.episodes import ClipTruth, TruthEpisode
from pipeline.synthetic.zone import WorkerCompliance

FPS = 10.0  # the bench's cameras
MARGIN_S = 1.0  # seconds beyond min_violation_s an episode must be judgeable to be expected
WORKER_IOU = 0.3  # least IoU of an event's person box with its truth worker's
TIME_SLACK_S = 1.0  # seconds an alert may be raised before / after its episode's frames
TRACK_IOU = 0.5  # least IoU of a tracked box with its truth worker's (id switches)
TRACK_VISIBILITY = 0.3  # truth workers less visible than this are not expected tracked


@dataclass
class Tally:
    hits: list[float] = field(default_factory=list)  # delays, seconds
    false_alerts: Counter[str] = field(default_factory=Counter)  # by reason
    ignored: int = 0
    expected: int = 0
    missed: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)  # one line per false alert
    expected_by_visit: Counter[str] = field(default_factory=Counter)
    hits_by_visit: Counter[str] = field(default_factory=Counter)
    switches: int = 0
    track_frames: int = 0

    def false_alert(
        self, reason: str, camera: str, event: dict[str, Any], worker: int | None
    ) -> None:
        self.false_alerts[reason] += 1
        who = "" if worker is None else f" worker {worker}"
        self.false.append(
            f"{camera} {reason}:{who} raised {event['raised_at']:.1f} s, tracks "
            f"{event.get('track_ids')}, without {'+'.join(event.get('missing', []))}"
        )

    @property
    def precision(self) -> float:
        alerts = len(self.hits) + sum(self.false_alerts.values())
        return len(self.hits) / alerts if alerts else 1.0

    @property
    def recall(self) -> float:
        return len(self.hits) / self.expected if self.expected else 1.0

    @property
    def median_delay_s(self) -> float:
        return statistics.median(self.hits) if self.hits else float("nan")

    @property
    def idsw_per_100(self) -> float:
        return 100.0 * self.switches / self.track_frames if self.track_frames else 0.0

    def headline(self) -> str:
        return (
            f"precision={self.precision:.2f} recall={self.recall:.2f} "
            f"median_delay_s={self.median_delay_s:.1f} idsw_per_100={self.idsw_per_100:.1f}"
        )


Tracks = dict[int, dict[int, list[float]]]  # track id -> frame index -> person box


def track_boxes(detections: list[dict[str, Any]], camera: str) -> Tracks:
    """Every tracked person box of the camera in detections.jsonl, by track and frame."""
    tracks: Tracks = {}
    for line in detections:
        if line["camera"] != camera:
            continue
        for entry in line["detections"]:
            if entry["class"] == "person" and "track" in entry:
                tracks.setdefault(entry["track"], {})[line["frame_index"]] = entry["box"]
    return tracks


def event_workers(
    truth: ClipTruth, event: dict[str, Any], tracks: Tracks
) -> list[WorkerCompliance]:
    """The truth workers an event may be about, most voted first (module docstring)."""
    raised = float(event["raised_at"])
    boxes = [(round(raised * FPS), event["box"])]
    for track in event.get("track_ids", ()):
        for index, box in sorted(tracks.get(track, {}).items()):
            if float(event["started_at"]) - TIME_SLACK_S <= index / FPS <= raised:
                boxes.append((index, box))
    votes: Counter[int] = Counter()
    seen: dict[int, WorkerCompliance] = {}
    for index, box in boxes:
        workers = truth.frames.get(index, ())
        if not workers:
            continue
        iou = box_iou(np.array([box]), np.array([w.box for w in workers]))[0]
        best = int(np.argmax(iou))
        if iou[best] >= WORKER_IOU:
            votes[workers[best].id] += 1
            seen.setdefault(workers[best].id, workers[best])
    return [seen[worker] for worker, _ in votes.most_common()]


def match_events(
    camera: str,
    truth: ClipTruth,
    events: list[dict[str, Any]],
    rules: ComplianceConfig,
    tally: Tally,
    tracks: Tracks | None = None,
    margin_s: float = MARGIN_S,
) -> None:
    """Add the camera's hits, false alerts and misses to `tally` (module docstring);
    `tracks`: the camera's track_boxes (None: each event's own box only)."""
    min_violation = rules.rules.min_violation_s
    expected = {id(e) for e in truth.episodes if e.expected(min_violation, margin_s)}
    tally.expected += len(expected)
    for episode in truth.episodes:
        if id(episode) in expected:
            tally.expected_by_visit[truth.visits.get(episode.worker_id, "?")] += 1
    taken: set[int] = set()
    starts = [e for e in events if e["camera"] == camera and e["type"] == "violation_start"]
    for event in sorted(starts, key=lambda e: e["raised_at"]):
        raised = float(event["raised_at"])
        candidates = event_workers(truth, event, tracks or {})
        if not candidates:
            tally.false_alert("no worker there", camera, event, None)
            continue
        named = set(event.get("missing", ()))
        found = [(w, e) for w in candidates if (e := _episode_at(truth, w.id, raised))]
        untaken = [(w, e) for w, e in found if id(e) not in taken]
        agreeing = [(w, e) for w, e in untaken if named & {i.value for i in e.missing}]
        if not found:
            worker = candidates[0]
            reason = "outside the zone" if not worker.in_zone else "wearing the items"
            tally.false_alert(reason, camera, event, worker.id)
            continue
        worker, matched = (agreeing or untaken or found)[0]
        if id(matched) in taken:
            if id(matched) in expected:
                tally.false_alert("repeated alert", camera, event, worker.id)
            else:
                tally.ignored += 1
            continue
        taken.add(id(matched))
        if id(matched) in expected:
            assert matched.judged_from_s is not None
            tally.hits.append(raised - matched.judged_from_s)
            tally.hits_by_visit[truth.visits.get(matched.worker_id, "?")] += 1
        else:
            tally.ignored += 1
    for episode in truth.episodes:
        if id(episode) in expected and id(episode) not in taken:
            kind = truth.visits.get(episode.worker_id, "?")
            tally.missed.append(f"{camera} worker {episode.worker_id} ({kind}) {episode}")


def _episode_at(truth: ClipTruth, worker_id: int, raised: float) -> TruthEpisode | None:
    """The worker's episode that an alert raised at `raised` (seconds) can belong to."""
    for episode in truth.episodes:
        if episode.worker_id != worker_id:
            continue
        if episode.start_s - TIME_SLACK_S <= raised <= episode.end_s + TIME_SLACK_S:
            return episode
    return None


def count_id_switches(
    camera: str, truth: ClipTruth, detections: list[dict[str, Any]], tally: Tally
) -> None:
    """Add the camera's id switches and matched track-frames to `tally`."""
    last_track: dict[int, int] = {}
    lines = [d for d in detections if d["camera"] == camera]
    for line in sorted(lines, key=lambda d: d["frame_index"]):
        tracked = [d for d in line["detections"] if d["class"] == "person" and "track" in d]
        frame = truth.frames.get(line["frame_index"], ())
        workers = [w for w in frame if w.visibility >= TRACK_VISIBILITY]
        if not tracked or not workers:
            continue
        iou = box_iou(np.array([d["box"] for d in tracked]), np.array([w.box for w in workers]))
        while iou.size and iou.max() >= TRACK_IOU:
            row, column = np.unravel_index(int(np.argmax(iou)), iou.shape)
            track, worker = int(tracked[row]["track"]), workers[column].id
            tally.track_frames += 1
            if worker in last_track and last_track[worker] != track:
                tally.switches += 1
            last_track[worker] = track
            iou[row, :] = -1.0
            iou[:, column] = -1.0
