"""bench.alerts: the matching of events to ground-truth episodes, and a short fixed-seed run
of the whole pipeline on compliance scenes as a regression test of the alert rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.alert_matching import Tally, count_id_switches, match_events, track_boxes
from bench.alerts import COMPLIANCE, merged, rerun, run, site_yaml
from pipeline.config.compliance import ComplianceConfig, PpeItem
from pipeline.config.models import SiteConfig
from pipeline.synthetic.episodes import ClipTruth, truth_episodes
from pipeline.synthetic.zone import WorkerCompliance

RULES = ComplianceConfig.model_validate(COMPLIANCE)
HELMET = (PpeItem.HELMET,)
BOXES = {
    1: (100.0, 150.0, 140.0, 300.0),  # bare-headed in the zone, frames 10-59: expected
    2: (400.0, 150.0, 440.0, 300.0),  # wears everything
    3: (250.0, 150.0, 290.0, 300.0),  # bare-headed, judgeable for 1 s only: optional
    4: (500.0, 20.0, 520.0, 80.0),  # bare-headed outside the zone
    5: (30.0, 150.0, 70.0, 300.0),  # bare-headed in the zone, frames 60-99: expected, missed
}


def worker(worker_id: int, index: int) -> WorkerCompliance:
    box = BOXES[worker_id]
    if (worker_id == 1 and 10 <= index <= 59) or (worker_id == 5 and index >= 60):
        return WorkerCompliance(worker_id, box, True, HELMET, True, True)
    if worker_id == 3 and 20 <= index <= 39:
        return WorkerCompliance(worker_id, box, True, HELMET, index < 30, True)
    if worker_id == 4:
        return WorkerCompliance(worker_id, box, False, HELMET, True, True)
    return WorkerCompliance(worker_id, box, True, (), True, True)


def camera_truth() -> ClipTruth:
    frames = {i: tuple(worker(w, i) for w in BOXES) for i in range(100)}
    episodes = truth_episodes(sorted(frames.items()), 10.0, RULES.rules.rearm_s)
    return ClipTruth(frames, episodes, {1: "bare", 5: "bare"})


def start(
    raised_at: float, box: tuple[float, ...], camera: str = "CAM1", track: int = 0
) -> dict[str, Any]:
    return {
        "type": "violation_start",
        "camera": camera,
        "raised_at": raised_at,
        "started_at": raised_at - 3.0,
        "box": box,
        "track_ids": [track],
        "missing": ["helmet"],
    }


def shifted(worker_id: int, dx: float = 3.0) -> tuple[float, ...]:
    x1, y1, x2, y2 = BOXES[worker_id]
    return (x1 + dx, y1, x2 + dx, y2)


def test_events_are_matched_to_episodes_as_documented() -> None:
    events = [
        start(3.5, shifted(1)),  # hit: 2.5 s after the episode became judgeable (1.0 s)
        start(5.0, shifted(1, -2.0)),  # the same worker's episode again
        start(4.0, shifted(2)),  # a worker wearing everything
        start(3.0, shifted(3)),  # an optional episode: neither way
        start(6.0, (600.0, 300.0, 630.0, 350.0)),  # nobody there
        start(2.0, shifted(4)),  # outside the zone
        start(3.5, shifted(1), camera="CAM2"),  # another camera's
        {**start(5.5, shifted(1)), "type": "violation_end"},
    ]
    tally = Tally()
    match_events("CAM1", camera_truth(), events, RULES, tally)
    assert tally.hits == pytest.approx([2.5])
    assert dict(tally.false_alerts) == {
        "repeated alert": 1,
        "wearing the items": 1,
        "no worker there": 1,
        "outside the zone": 1,
    }
    assert tally.ignored == 1
    assert tally.expected == 2 and len(tally.missed) == 1 and "worker 5 (bare)" in tally.missed[0]
    assert (tally.precision, tally.recall) == (pytest.approx(0.2), pytest.approx(0.5))
    assert tally.hits_by_visit == {"bare": 1} and tally.expected_by_visit == {"bare": 2}


def test_an_event_belongs_to_the_worker_its_track_followed() -> None:
    """At the raise the event's box spans several workers and fits none; over the seconds
    before, its track followed worker 1: the alert is worker 1's."""
    between = (130.0, 150.0, 400.0, 300.0)
    tracks = {7: {index: list(shifted(1, 1.0)) for index in range(5, 35)}}
    detections = [
        {
            "camera": "CAM1",
            "frame_index": index,
            "detections": [{"class": "person", "box": box, "track": track}],
        }
        for track, boxes in tracks.items()
        for index, box in boxes.items()
    ]
    assert track_boxes(detections, "CAM1") == tracks
    assert track_boxes(detections, "CAM2") == {}
    event = start(3.5, between, track=7)
    followed = Tally()
    match_events("CAM1", camera_truth(), [event], RULES, followed, tracks)
    assert followed.hits == pytest.approx([2.5]) and not followed.false
    alone = Tally()  # without the track's history only the box at the raise counts
    match_events("CAM1", camera_truth(), [{**event, "box": shifted(2)}], RULES, alone)
    assert dict(alone.false_alerts) == {"wearing the items": 1}


def test_id_switches_count_changes_of_a_workers_track() -> None:
    detections = []
    for index in range(10, 20):
        entries = [
            {"class": "person", "box": shifted(1, 1.0), "track": 3 if index < 15 else 5},
            {"class": "person", "box": shifted(2, 1.0), "track": 4},
            {"class": "person", "box": shifted(4, 1.0)},  # not confirmed: no track
            {"class": "helmet", "box": shifted(2, 0.0), "track": 9},
        ]
        detections.append({"camera": "CAM1", "frame_index": index, "detections": entries})
    tally = Tally()
    count_id_switches("CAM1", camera_truth(), detections, tally)
    assert (tally.switches, tally.track_frames) == (1, 20)
    assert tally.idsw_per_100 == pytest.approx(5.0)


# The regression run: two cameras, 45 s of scene each, every frame through the real pipeline
# (900 frames of the demo detector). Measured on the development VM (seeds 777, 778), with
# the 2,600-step detector: 6 expected episodes, 5 hit, no false alert, median delay 3.0 s,
# 1.3 id switches per 100 track-frames in 1,829. The bar is lower than the bench's goals (precision 0.95, recall
# 0.90) and leaves room for one more miss or one false alert, as a detector's scores can
# differ in the last digits between CPUs.
SEED = 777
MINUTES = 0.75


@pytest.fixture(scope="module")
def short_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Tally, Path]:
    folder = tmp_path_factory.mktemp("alerts")
    total, _ = run(MINUTES, SEED, cameras=2, folder=folder)
    return total, folder


@pytest.fixture(scope="module")
def short_run(short_folder: tuple[Tally, Path]) -> Tally:
    return short_folder[0]


def test_short_run_finds_the_scripted_violations(short_run: Tally) -> None:
    assert short_run.expected >= 5, "the scenes should hold several expected episodes"
    assert short_run.recall >= 0.65, short_run.missed
    assert short_run.median_delay_s <= RULES.rules.min_violation_s + 2.0


def test_short_run_raises_few_false_alerts(short_run: Tally) -> None:
    assert short_run.precision >= 0.8, short_run.false


def test_short_run_keeps_track_ids(short_run: Tally) -> None:
    assert short_run.track_frames > 1000
    assert short_run.idsw_per_100 <= 3.0, (short_run.switches, short_run.track_frames)


def test_the_bench_site_file_is_valid(tmp_path: Path) -> None:
    """The site file the bench writes is one the runtime accepts (checked without running)."""
    text = site_yaml(tmp_path, tmp_path / "run", ["CAM1", "CAM2"], COMPLIANCE)
    site = SiteConfig.model_validate(json.loads(text))
    assert [camera.id for camera in site.cameras] == ["CAM1", "CAM2"]
    assert site.transport.max_in_flight == 1


def test_a_replay_judges_the_kept_detections_again(short_folder: tuple[Tally, Path]) -> None:
    """--replay with the run's own rules finds what the run found (the log's rounding may
    move an event); with a violation taking far longer than any episode, it finds none."""
    live, folder = short_folder
    again, per_camera = rerun(folder, COMPLIANCE)
    assert set(per_camera) == {"CAM1", "CAM2"}
    assert again.expected == live.expected
    assert abs(len(again.hits) - len(live.hits)) <= 1
    assert abs(sum(again.false_alerts.values()) - sum(live.false_alerts.values())) <= 1
    assert abs(again.track_frames - live.track_frames) <= 0.02 * live.track_frames
    never = merged(COMPLIANCE, {"rules": {"min_violation_s": 600.0}})
    silent, _ = rerun(folder, never)
    assert not silent.hits and not silent.false_alerts


def test_a_replay_needs_a_kept_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"bench\.json"):
        rerun(tmp_path, COMPLIANCE)
