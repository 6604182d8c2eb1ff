"""The per-camera monitor end to end (real ByteTrack, association, zones, episodes) on
scripted workers: what the camera process gets back each frame."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.analytics import (
    ComplianceState,
    EndReason,
    EventKind,
    Units,
    ZoneSpec,
)
from pipeline.config.compliance import Anchor, AssociationConfig, ComplianceConfig, PpeItem
from pipeline.detections import NO_TRACK, Detections
from tests.analytics.scenes import (
    FRAME,
    HELMET,
    PERSON,
    Worker,
    detections_at,
    make_monitor,
    run,
)


def key(events):
    """What must not depend on the frame rate: kind, items, reason; times rounded to 0.5 s."""
    return [
        (
            e.kind,
            e.missing,
            e.end_reason,
            round(e.raised_at * 2) / 2 if e.kind is EventKind.START else round(e.ended_at * 2) / 2,
        )
        for e in events
    ]


def random_intervals(seed: int, fraction: float, seconds: float, slot: float = 0.1):
    rng = np.random.default_rng(seed)
    starts = np.flatnonzero(rng.random(int(seconds / slot)) < fraction) * slot
    return tuple((float(s), float(s) + slot) for s in starts)


HELMET_BACK_ON = Worker(feet=(100, 300), velocity=(8, 0), helmet_off=((5, 15),))
NO_VEST_ALL_ALONG = Worker(feet=(500, 330), velocity=(-6, -2), vest_off=((0, 1e9),), enter=3)
COMPLIANT = Worker(feet=(320, 200), height=90)

SCENARIOS = [
    (
        "helmet removed mid-sequence and put back on",
        [HELMET_BACK_ON],
        25,
        [
            (EventKind.START, (PpeItem.HELMET,), None, 8.0),
            (EventKind.END, (PpeItem.HELMET,), EndReason.COMPLIED, 17.0),
        ],
    ),
    (
        "three workers, one without a vest",
        [COMPLIANT, NO_VEST_ALL_ALONG],
        12,
        [
            (EventKind.START, (PpeItem.VEST,), None, 6.0),
            (EventKind.END, (PpeItem.VEST,), EndReason.STOPPED, 12.0),
        ],
    ),
    (
        # The detector misses a worn helmet in 40% of 0.1 s slots, at random: no alert.
        "flickering helmet detection",
        [Worker(feet=(200, 300), velocity=(3, 0), helmet_missed=random_intervals(1, 0.4, 60))],
        60,
        [],
    ),
    (
        # 20 px tall: too small to judge without a helmet in sight; no alert, deliberately.
        "far small worker without helmet",
        [Worker(feet=(400, 150), height=20, helmet_off=((0, 1e9),))],
        20,
        [],
    ),
    (
        # Hidden 1.6 s (past the tracker's lost_track_s): a new track id takes over, one episode.
        "occluded while in violation",
        [Worker(feet=(100, 300), velocity=(10, 0), helmet_off=((0, 1e9),), hidden=((6, 7.6),))],
        14,
        [
            (EventKind.START, (PpeItem.HELMET,), None, 3.0),
            (EventKind.END, (PpeItem.HELMET,), EndReason.STOPPED, 14.0),
        ],
    ),
    (
        "walks out of the frame",
        [Worker(feet=(500, 300), velocity=(40, 0), helmet_off=((0, 1e9),), leave=7)],
        15,
        [
            (EventKind.START, (PpeItem.HELMET,), None, 3.0),
            (EventKind.END, (PpeItem.HELMET,), EndReason.TRACK_LOST, 7.0),
        ],
    ),
]


@pytest.mark.parametrize("fps", [5, 25])
@pytest.mark.parametrize(
    ("name", "workers", "seconds", "expected"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_scripted_scenes(name, workers, seconds, expected, fps):
    events, _ = run(workers, seconds, fps)
    # Starts are raised a frame after the worker appears plus min_violation_s: allow a frame.
    got = key(events)
    assert [g[:3] for g in got] == [e[:3] for e in expected], name
    for (_, _, _, t_got), (_, _, _, t_expected) in zip(got, expected, strict=True):
        assert abs(t_got - t_expected) <= 0.5, name


def test_the_same_timeline_at_5_and_25_fps_gives_the_same_events():
    workers = [HELMET_BACK_ON, NO_VEST_ALL_ALONG, COMPLIANT]
    slow, _ = run(workers, 25, 5)
    fast, _ = run(workers, 25, 25)
    assert key(slow) == key(fast)
    for a, b in zip(slow, fast, strict=True):
        assert abs(a.started_at - b.started_at) <= 0.2 + 1e-9
        assert abs(a.raised_at - b.raised_at) <= 0.2 + 1e-9


@pytest.mark.parametrize("speed", [10, 40])
def test_an_id_switch_raises_no_second_alert(speed):
    """Hidden 1.6 s, past the tracker's lost_track_s: it issues a new id. At 40 px/s the
    worker reappears beyond his old box (IoU 0): the lost track's velocity finds him."""
    worker = Worker(feet=(100, 300), velocity=(speed, 0), helmet_off=((0, 9),), hidden=((5, 6.6),))
    events, analyses = run([worker], 14, 10)
    ids = {p.track_id for a in analyses for p in a.persons} - {NO_TRACK}
    assert len(ids) == 2  # the tracker did switch ids
    start, end = events
    assert start.track_ids == (min(ids),)
    assert end.track_ids == tuple(sorted(ids)) and end.end_reason is EndReason.COMPLIED


def test_two_workers_side_by_side_one_helmet():
    """The helmet is centred on its wearer's head; the other's box overlaps it: only the
    bare-headed worker raises a violation, and the helmet counts for one of them only."""
    wearer = Worker(feet=(200, 300))
    other = Worker(feet=(225, 302), helmet_off=((0, 1e9),))
    events, analyses = run([wearer, other], 8, 10)
    start, end = events
    assert start.kind is EventKind.START and start.missing == (PpeItem.HELMET,)
    assert end.kind is EventKind.END and end.track_id == start.track_id
    final = {p.track_id: p for p in analyses[-1].persons}
    assert final[start.track_id].state is ComplianceState.VIOLATION
    others = [p for p in final.values() if p.track_id != start.track_id]
    assert [p.state for p in others] == [ComplianceState.COMPLIANT]
    helmets = analyses[-1].detections.class_id == HELMET
    assert analyses[-1].ppe_owner[helmets].tolist() == [others[0].track_id]


def test_zone_membership_leave_and_re_enter():
    """A normalised zone over the left half; the worker walks right out of it and back."""
    zone = ZoneSpec(
        "left",
        np.array([[0, 0], [0.5, 0], [0.5, 1], [0, 1]]),
        Units.NORMALIZED,
        (PpeItem.HELMET,),
        Anchor.BOTTOM_CENTER,
        "roi.json:2",
    )
    config = ComplianceConfig()
    out_and_back = Worker(feet=(200, 300), velocity=(40, 0), helmet_off=((0, 1e9),), leave=5)
    back = Worker(feet=(440, 300), velocity=(-40, 0), helmet_off=((0, 1e9),), enter=12)
    events, analyses = run(
        [out_and_back, back], 24, 10, monitor=make_monitor(config, fps=10, zones=(zone,))
    )
    assert [(e.kind, e.end_reason) for e in events] == [
        (EventKind.START, None),
        (EventKind.END, EndReason.LEFT_ZONE),  # the feet crossed x = 320 at 3 s
        (EventKind.START, None),
        (EventKind.END, EndReason.STOPPED),
    ]
    assert all(e.zone == "left" for e in events)
    outside = [p for a in analyses for p in a.persons if p.box[2] > 400]
    assert outside and all(p.state is ComplianceState.OUTSIDE for p in outside)


def test_a_zone_outside_the_frame_is_reported_once_and_watches_nothing():
    zone = ZoneSpec(
        "hd",
        np.array([[0, 0], [1920, 0], [1920, 1080], [0, 1080]], dtype=np.float64),
        Units.PIXELS,
        (PpeItem.HELMET,),
        Anchor.BOTTOM_CENTER,
        "roi.json:3",
    )
    monitor = make_monitor(zones=(zone,))
    worker = Worker(feet=(200, 300), helmet_off=((0, 1e9),))
    events, analyses = run([worker], 6, 10, monitor=monitor)
    assert events == []
    assert "zone 'hd' disabled" in analyses[0].zone_problems[0]
    assert all(not a.zone_problems for a in analyses[1:])
    assert analyses[0].zones == ()
    # The camera comes back at the resolution the zone was drawn for: placed again.
    again = monitor.update(Detections.empty(), 10.0, (1920, 1080))
    assert again.zone_problems == () and [z.name for z in again.zones] == ["hd"]


def test_each_frame_returns_the_detections_in_order_with_track_ids():
    worker = Worker(feet=(200, 300))
    monitor = make_monitor()
    for index in range(1, 4):
        detections = Detections.concat(
            [
                Detections.create([[600, 10, 620, 20]], [0.7], [HELMET]),
                Detections.create(
                    np.array([r[:4] for r in worker.rows(index / 10)]),
                    [r[4] for r in worker.rows(index / 10)],
                    [r[5] for r in worker.rows(index / 10)],
                ),
            ]
        )
        analysis = monitor.update(detections, index / 10, FRAME)
    assert np.array_equal(analysis.detections.xyxy, detections.xyxy)
    person = analysis.detections.class_id == PERSON
    (track,) = analysis.detections.track_id[person].tolist()
    assert track != NO_TRACK
    assert analysis.ppe_owner.tolist() == [NO_TRACK, NO_TRACK, track, track]  # crate helmet: nobody
    assert analysis.persons[0].label() == f"#{track}"


def test_person_boxes_from_two_classes_are_one_worker():
    monitor = make_monitor()
    box = [[100, 100, 140, 220]]
    for index in range(1, 4):
        detections = Detections.concat(
            [Detections.create(box, [0.8], [PERSON]), Detections.create(box, [0.6], [PERSON])]
        )
        analysis = monitor.update(detections, index / 10, FRAME)
    ids = analysis.detections.track_id.tolist()
    assert ids[0] == ids[1] != NO_TRACK and len(analysis.persons) == 1


def test_small_workers_are_judged_by_the_detectors_input_size():
    """Person 60 px in a 1280-wide frame seen through a 320 input is 15 px to the detector."""
    config = ComplianceConfig(association=AssociationConfig(min_person_height_px=24))
    monitor = make_monitor(config, input_size=(320, 320))
    box = [[100, 100, 120, 160]]
    analysis = None
    for index in range(1, 40):
        analysis = monitor.update(Detections.create(box, [0.9], [PERSON]), index / 10, (1280, 720))
    assert analysis is not None and analysis.events == ()
    (person,) = analysis.persons
    assert person.state is ComplianceState.UNKNOWN and not person.judged


def test_events_are_json_lines():
    events, _ = run([HELMET_BACK_ON], 20, 10)
    lines = [json.dumps(e.to_json()) for e in events]
    records = [json.loads(line) for line in lines]
    assert [r["type"] for r in records] == ["violation_start", "violation_end"]
    assert {r["camera"] for r in records} == {"CAM1"} and records[0]["site"] == "site"
    assert records[0]["event_id"] != records[1]["event_id"]
    assert records[0]["episode_id"] == records[1]["episode_id"]
    # Another camera with the same script: ids differ.
    other, _ = run([HELMET_BACK_ON], 20, 10, monitor=make_monitor(camera="CAM2"))
    assert other[0].event_id != events[0].event_id


def test_memory_stays_bounded_with_workers_coming_and_going():
    rng = np.random.default_rng(5)
    workers = []
    for spot in range(5):
        clock = float(rng.uniform(0, 4))
        while clock < 300:
            stay = float(rng.uniform(3, 12))
            workers.append(
                Worker(
                    feet=(60 + 120 * spot, 320),
                    enter=clock,
                    leave=clock + stay,
                    helmet_off=((clock, clock + stay / 2),),
                )
            )
            clock += stay + float(rng.uniform(2, 6))
    monitor = make_monitor(fps=5)
    most_records = most_tracks = 0
    for index in range(1, 1500):
        t = index / 5
        here = [w for w in workers if w.enter <= t < w.leave]
        monitor.update(detections_at(here, t), t, FRAME)
        most_records = max(most_records, monitor.tracks_remembered)
        most_tracks = max(most_tracks, monitor.tracker.live_tracks)
    assert monitor.tracker.ids_seen > 100
    assert most_records <= 10 and most_tracks <= 10


def test_time_must_increase():
    monitor = make_monitor()
    monitor.update(Detections.empty(), 1.0, FRAME)
    with pytest.raises(ValueError, match="increase"):
        monitor.update(Detections.empty(), 1.0, FRAME)


def test_a_head_cut_off_by_the_frame_top_is_not_judged_for_a_helmet():
    """Box from y = 0: the helmet may be above the frame, so no helmet alert; the vest,
    which is in view, is still judged."""
    monitor = make_monitor()
    events = []
    for index in range(1, 60):
        box = Detections.create([[100, 0, 140, 110]], [0.9], [PERSON])
        events.extend(monitor.update(box, index / 10, FRAME).events)
    assert [e.missing for e in events] == [(PpeItem.VEST,)]
