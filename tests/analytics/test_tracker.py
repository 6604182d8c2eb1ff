"""The per-camera person tracker: own id space per instance, time-based loss, bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.analytics import PersonTracker
from pipeline.config.compliance import TrackingConfig
from pipeline.detections import NO_TRACK, Detections


def people(*lefts: float, top: float = 100.0) -> Detections:
    boxes = np.array([[x, top, x + 40, top + 110] for x in lefts], dtype=np.float32)
    return Detections.create(boxes.reshape(-1, 4), [0.9] * len(lefts), [0] * len(lefts))


def test_each_tracker_has_its_own_id_space():
    """supervision's old ByteTrack counted ids in a class attribute shared by every instance:
    a second camera's first person got the next id of the first camera."""
    first, second = PersonTracker(TrackingConfig(), 10), PersonTracker(TrackingConfig(), 10)
    ids_first, ids_second = set(), set()
    for index in range(10):
        t = index / 10
        ids_first |= set(first.update(people(10 + index, 200, 400), t).track_id.tolist())
        ids_second |= set(second.update(people(50 + index), t).track_id.tolist())
    assert ids_first - {NO_TRACK} == {0, 1, 2}
    assert ids_second - {NO_TRACK} == {0}
    third = PersonTracker(TrackingConfig(), 25)
    assert set(third.update(people(0), 0.0).track_id.tolist()) == {NO_TRACK}  # not confirmed yet
    assert third.update(people(1), 0.04).track_id.tolist() == [0]


def test_ids_come_back_in_the_callers_order_and_stay_with_each_person():
    tracker = PersonTracker(TrackingConfig(), 10)
    seen = []
    for index in range(20):
        # Three people walking right; the list order is shuffled every frame.
        lefts = [20 + 3 * index, 200 + 3 * index, 400 - 3 * index]
        order = np.random.default_rng(index).permutation(3)
        boxes = people(*[lefts[i] for i in order])
        tracked = tracker.update(boxes, index / 10)
        assert np.array_equal(tracked.xyxy, boxes.xyxy)
        if index >= 1:
            by_person = dict(zip(order.tolist(), tracked.track_id.tolist(), strict=True))
            seen.append(tuple(by_person[i] for i in range(3)))
    assert len(set(seen)) == 1 and NO_TRACK not in seen[0]


@pytest.mark.parametrize("fps", [5, 25])
@pytest.mark.parametrize(("gap_s", "same_id"), [(0.6, True), (1.6, False)])
def test_a_track_survives_a_gap_shorter_than_lost_track_s_at_any_rate(fps, gap_s, same_id):
    tracker = PersonTracker(TrackingConfig(lost_track_s=1.0), fps)
    ids = []
    frames = int(4 * fps)
    for index in range(1, frames):
        t = index / fps
        hidden = 1.0 <= t < 1.0 + gap_s
        ids.append(tracker.update(Detections.empty() if hidden else people(100), t).track_id)
    found = {int(i) for batch in ids for i in batch} - {NO_TRACK}
    assert (found == {0}) is same_id


def test_time_must_move_forward():
    tracker = PersonTracker(TrackingConfig(), 10)
    tracker.update(people(10), 1.0)
    for t in (1.0, 0.5, float("nan")):
        with pytest.raises(ValueError, match="t must"):
            tracker.update(people(10), t)


def test_memory_stays_bounded_over_many_comings_and_goings():
    """Seven minutes at 5 fps: six spots, each visited by one person after another (visits
    of 2-10 s, 1.5-6 s apart): hundreds of tracks come and go, few are ever held."""
    rng = np.random.default_rng(3)
    tracker = PersonTracker(TrackingConfig(lost_track_s=1.0), 5)
    visits = []  # per spot: (enter, leave) times
    for _ in range(6):
        clock, spot = float(rng.uniform(0, 3)), []
        while clock < 420:
            stay = float(rng.uniform(2, 10))
            spot.append((clock, clock + stay))
            clock += stay + float(rng.uniform(1.5, 6))
        visits.append(spot)
    most = 0
    for index in range(1, 2100):
        t = index / 5
        lefts = [
            100.0 * k + 2 * t % 20
            for k, spot in enumerate(visits)
            if any(a <= t < b for a, b in spot)
        ]
        tracker.update(people(*lefts), t)
        most = max(most, tracker.live_tracks)
    assert tracker.ids_seen > 200  # many people came and went...
    assert most <= 12  # ...but only those of the last second are held: one or two per spot
