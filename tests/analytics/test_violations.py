"""Episodes per track from scripted observations: one start and one end per episode, cooldown
and re-arming, zone exits, lost tracks and id-switch carry-over."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from pipeline.analytics import EndReason, EventKind, EventSource, Evidence
from pipeline.analytics.violations import Observation, ViolationBook
from pipeline.config.compliance import PpeItem, ViolationRules

P, M, A = Evidence.PRESENT, Evidence.MISSING, Evidence.ABSENT
HELMET_ONLY = {"z": (PpeItem.HELMET,)}
BOTH = {"z": (PpeItem.HELMET, PpeItem.VEST)}
FPS = 10


def seen(track_id: int, x: float = 100.0, helmet=P, vest=P, zones=("z",)) -> Observation:
    box = np.array([x, 100.0, x + 40.0, 220.0])
    return Observation(track_id, box, 0.9, zones, {PpeItem.HELMET: helmet, PpeItem.VEST: vest})


def play(
    script: Callable[[float], list[Observation]],
    seconds: float,
    rules: ViolationRules | None = None,
    requirements=HELMET_ONLY,
):
    book = ViolationBook(rules or ViolationRules(), EventSource("site", "CAM1", "run"))
    events = []
    for index in range(1, round(seconds * FPS) + 1):
        t = index / FPS
        _, raised = book.update(script(t), t, 1 / FPS, requirements)
        events.extend(raised)
    events.extend(book.close(seconds))
    return events, book


def summary(events):
    """(kind, first track, t, reason) per event; t = raised time for starts, end for ends."""
    return [
        (
            e.kind.value[10:],
            e.track_id,
            round(e.raised_at if e.kind is EventKind.START else e.ended_at, 2),
            e.end_reason.value if e.end_reason else None,
        )
        for e in events
    ]


def bare(during: tuple[float, float]) -> Callable[[float], Evidence]:
    return lambda t: M if during[0] <= t < during[1] else P


CASES = [
    (
        "helmet removed at 2 s and put back at 9 s",
        lambda t: [seen(1, helmet=bare((2, 9))(t))],
        15,
        {},
        [("start", 1, 5.0, None), ("end", 1, 11.0, "complied")],
    ),
    (
        # Violation 2-9 ends at 11; off again at 12: held by the cooldown (30 s) and raised
        # when it expires at 41, as the worker is still bare-headed.
        "cooldown holds the second start",
        lambda t: [seen(1, helmet=M if 2 <= t < 9 or t >= 12 else P)],
        45,
        {},
        [
            ("start", 1, 5.0, None),
            ("end", 1, 11.0, "complied"),
            ("start", 1, 41.0, None),
            ("end", 1, 45.0, "stopped"),
        ],
    ),
    (
        # Compliant 9-25 (14 s calm after the end at 11 >= rearm_s 10): re-armed.
        "re-armed after a compliant period",
        lambda t: [seen(1, helmet=M if 2 <= t < 9 or t >= 25 else P)],
        32,
        {},
        [
            ("start", 1, 5.0, None),
            ("end", 1, 11.0, "complied"),
            ("start", 1, 28.0, None),
            ("end", 1, 32.0, "stopped"),
        ],
    ),
    (
        "a violation held by the cooldown that clears raises nothing",
        lambda t: [seen(1, helmet=M if 2 <= t < 9 or 12 <= t < 17 else P)],
        30,
        {},
        [("start", 1, 5.0, None), ("end", 1, 11.0, "complied")],
    ),
    (
        # Track 1's cooldown does not hold back track 2.
        "another worker during a cooldown",
        lambda t: [seen(1, helmet=bare((2, 9))(t)), seen(2, x=300, helmet=bare((12, 30))(t))],
        20,
        {},
        [
            ("start", 1, 5.0, None),
            ("end", 1, 11.0, "complied"),
            ("start", 2, 15.0, None),
            ("end", 2, 20.0, "stopped"),
        ],
    ),
    (
        # Leaves the zone at 8 (gone after zone_exit_s), back at 22: armed again (calm 13 s).
        "leave and re-enter",
        lambda t: [seen(1, helmet=M, zones=() if 8 <= t < 22 else ("z",))],
        28,
        {},
        [
            ("start", 1, 3.1, None),
            ("end", 1, 9.0, "left_zone"),
            ("start", 1, 25.0, None),
            ("end", 1, 28.0, "stopped"),
        ],
    ),
    (
        "a step out of the zone shorter than zone_exit_s",
        lambda t: [seen(1, helmet=M, zones=() if 8 <= t < 8.6 else ("z",))],
        12,
        {},
        [("start", 1, 3.1, None), ("end", 1, 12.0, "stopped")],
    ),
    (
        "occluded 2 s, less than lost_grace_s",
        lambda t: [] if 6 <= t < 8 else [seen(1, helmet=M)],
        12,
        {},
        [("start", 1, 3.1, None), ("end", 1, 12.0, "stopped")],
    ),
    (
        # Unseen from 6: ended at the last sighting (5.9) once lost_grace_s (3) has passed.
        "lost for good",
        lambda t: [] if t >= 6 else [seen(1, helmet=M)],
        12,
        {},
        [("start", 1, 3.1, None), ("end", 1, 5.9, "track_lost")],
    ),
    (
        # The tracker gives the worker a new id after an occlusion: same episode, no alert.
        "id switch carry-over",
        lambda t: [seen(1 if t < 6 else 7, helmet=M if t < 10 else P)] if not 6 <= t < 6.5 else [],
        15,
        {},
        [("start", 1, 3.1, None), ("end", 1, 12.0, "complied")],
    ),
    (
        # A new track far from where the lost one would be is another worker.
        "new track elsewhere is not a takeover",
        lambda t: [seen(1, helmet=M)] if t < 6 else [seen(7, x=500, helmet=M)],
        12,
        {},
        [
            ("start", 1, 3.1, None),
            ("start", 7, 9.0, None),
            ("end", 1, 5.9, "track_lost"),  # raised once lost_grace_s (4) has passed
            ("end", 7, 12.0, "stopped"),
        ],
    ),
    (
        # No helmet from the start, then the vest comes off too: one episode listing both.
        "a second item joins the open episode",
        lambda t: [seen(1, helmet=M if t < 12 else P, vest=M if 5 <= t < 12 else P)],
        16,
        {"requirements": BOTH},
        [("start", 1, 3.1, None), ("end", 1, 14.0, "complied")],
    ),
    (
        "bare head seen: faster",
        lambda t: [seen(1, helmet=A if t >= 2 else P)],
        6,
        {},
        [("start", 1, 3.5, None), ("end", 1, 6.0, "stopped")],
    ),
]


@pytest.mark.parametrize(
    ("name", "script", "seconds", "options", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_scripted_episodes(name, script, seconds, options, expected):
    events, book = play(script, seconds, **options)
    assert summary(events) == expected, name
    assert len(book) == 0  # closed


def test_id_switch_events_list_both_tracks_and_share_an_episode_id():
    events, _ = play(CASES[9][1], 15)
    start, end = events
    assert start.track_ids == (1,) and end.track_ids == (1, 7)
    assert start.episode_id == end.episode_id
    assert (start.event_id, end.event_id) == (
        f"{start.episode_id}:start",
        f"{start.episode_id}:end",
    )


def test_open_episodes_count_occluded_workers_too():
    book = ViolationBook(ViolationRules(), EventSource("site", "CAM1"))
    for index in range(1, 80):
        t = index / FPS
        book.update([seen(1, helmet=M)] if t < 5 else [], t, 1 / FPS, HELMET_ONLY)
        if t == pytest.approx(4.0):
            assert book.open_episodes == 1
    assert book.open_episodes == 1  # unseen 2.9 s: still open
    book.update([], 9.1, 0.1, HELMET_ONLY)  # unseen 4.2 s: past lost_grace_s
    assert book.open_episodes == 0


def test_second_item_joins_the_end_event():
    events, _ = play(CASES[11][1], 16, requirements=BOTH)
    start, end = events
    assert start.missing == (PpeItem.HELMET,)
    assert end.missing == (PpeItem.HELMET, PpeItem.VEST)
    assert start.started_at == pytest.approx(0.1) and start.zone == "z"


def test_events_are_json_ready_with_wall_clock_times():
    events, _ = play(CASES[0][1], 15)
    record = events[1].to_json(clock_offset=1_700_000_000.0)
    assert record["type"] == "violation_end" and record["end_reason"] == "complied"
    assert record["missing"] == ["helmet"] and record["track_ids"] == [1]
    assert record["started_at"] == 2.0 and record["ended_at"] == 11.0
    assert record["started_at_utc"] == "2023-11-14T22:13:22.000Z"
    assert 0.85 <= record["confidence"] <= 0.9
    assert "started_at_utc" not in events[1].to_json()


def test_takeover_window_is_configurable():
    rules = ViolationRules(takeover_s=0.2)
    events, _ = play(CASES[9][1], 15, rules=rules)
    kinds = [(e.kind, e.track_id) for e in events]
    assert kinds[0] == (EventKind.START, 1)
    ends = [e for e in events if e.kind is EventKind.END and e.track_id == 1]
    assert [e.end_reason for e in ends] == [EndReason.TRACK_LOST]  # too late: two episodes
    assert (EventKind.START, 7) in kinds


def test_rules_refuse_a_takeover_window_past_the_grace_period():
    with pytest.raises(ValueError, match="takeover_s"):
        ViolationRules(takeover_s=5, lost_grace_s=3)


def walking(track_id: int, t: float, x0: float, speed: float, height: float = 120.0):
    """A worker without a helmet walking right at `speed` px/s, box 40 x `height`."""
    x = x0 + speed * t
    box = np.array([x, 220.0 - height, x + 40.0, 220.0])
    return Observation(track_id, box, 0.9, ("z",), {PpeItem.HELMET: M, PpeItem.VEST: P})


@pytest.mark.parametrize(
    ("after", "height", "takes_over"),
    [
        # Behind a cabin 2.5 s at 60 px/s, back where the walk leads: the same worker.
        (lambda t: walking(7, t, 100, 60), 120.0, True),
        # Back 80 px short of the predicted place (2/3 of a height, no overlap): still them.
        (lambda t: walking(7, t, 20, 60), 120.0, True),
        # Two heights away: another worker.
        (lambda t: walking(7, t, 340, 60), 120.0, False),
        # Half a height ahead (no overlap) but half the height: another worker, further off.
        (lambda t: walking(7, t, 160, 60, height=60.0), 60.0, False),
    ],
    ids=["on its path", "short of it", "two heights away", "half the height"],
)
def test_a_worker_hidden_longer_than_an_id_switch_is_taken_over_by_distance(
    after, height, takes_over
):
    def script(t: float) -> list[Observation]:
        if t < 5:
            return [walking(1, t, 100, 60)]
        return [] if t < 7.5 else [after(t)]

    events, _ = play(script, 14)
    starts = [e.track_id for e in events if e.kind is EventKind.START]
    assert starts == ([1] if takes_over else [1, 7])
    if takes_over:
        assert events[-1].track_ids == (1, 7)


def test_a_runaway_velocity_estimate_is_capped_for_the_prediction():
    """A box racing at 400 px/s (3.3 heights/s: jitter or a half-hidden worker, not a walk)
    is predicted at most 1.5 heights/s on: the worker found there 1.1 s later is them."""

    def script(t: float) -> list[Observation]:
        if t < 4:
            return [walking(1, 0, 100, 0)]
        if t < 5:
            return [walking(1, t - 4, 100, 400)]
        return [] if t < 6 else [walking(7, 0, 650, 0)]

    events, _ = play(script, 12)
    assert [e.track_id for e in events if e.kind is EventKind.START] == [1]


def test_a_box_cut_short_on_the_way_behind_a_cabin_does_not_steer_the_prediction():
    """Walking right at 60 px/s; over the last 0.3 s before the cabin hides him, his head is
    behind its eave: the box loses its top 50 px, so its centre drops 250 px/s. The place
    he is expected back at comes from the last whole box and the walk's own velocity."""

    def script(t: float) -> list[Observation]:
        if t < 4.7:
            return [walking(1, t, 100, 60)]
        if t < 5:
            return [walking(1, t, 100, 60, height=70.0)]
        return [] if t < 7.5 else [walking(7, t, 100, 60)]

    events, _ = play(script, 14)
    assert [e.track_id for e in events if e.kind is EventKind.START] == [1]
    assert events[-1].track_ids == (1, 7)


def test_a_track_that_stays_short_gets_a_new_usual_height():
    """A worker who crouches behind a crate for good: after a second his short box is his
    usual one, so where he moves from then on steers the prediction again."""
    book = ViolationBook(ViolationRules(), EventSource("site", "CAM1"))
    for index in range(1, 121):
        t = index / FPS
        observation = walking(1, t, 100, 60 if t >= 9 else 0, 120.0 if t < 3 else 60.0)
        book.update([observation], t, 1 / FPS, HELMET_ONLY)
    record = book._records[1].motion
    assert record is not None
    assert record.height == pytest.approx(60.0)
    assert record.velocity[0] == pytest.approx(60.0, abs=6.0)


def test_a_worker_walking_in_where_one_walked_out_of_the_frame_is_someone_else():
    """Worker 1, in violation, walks out through the right edge of a 640 px frame at
    100 px/s; 0.6 s later worker 7 comes in there, bare-headed too: his own alert. Without
    the frame's size the book cannot tell, and takes him for worker 1."""

    def clipped(track_id: int, x: float) -> Observation:
        box = np.array([max(x, 0.0), 100.0, min(x + 40.0, 640.0), 220.0])
        return Observation(track_id, box, 0.9, ("z",), {PpeItem.HELMET: M, PpeItem.VEST: P})

    def script(t: float) -> list[Observation]:
        if t < 6.2:
            return [clipped(1, 20 + 100 * t)]  # out of the frame from t = 6.2
        return [] if t < 6.8 else [clipped(7, 620 - 60 * (t - 6.8))]

    def starts(frame_size: tuple[int, int] | None) -> list[int]:
        book = ViolationBook(ViolationRules(), EventSource("site", "CAM1"))
        events = []
        for index in range(1, 140):
            t = index / FPS
            events += book.update(script(t), t, 1 / FPS, HELMET_ONLY, frame_size)[1]
        return [e.track_id for e in events if e.kind is EventKind.START]

    assert starts((640, 360)) == [1, 7]
    assert starts(None) == [1]


def crossing(
    swapped: bool,
    bare_after: Callable[[float], Evidence] = lambda t: M,
    helmet_after: Callable[[float], Evidence] = lambda t: P,
):
    """Worker A (no helmet; after the crossing `bare_after`) walks right from x = 100 and
    worker B (helmet on; after the crossing `helmet_after`) left from x = 500, both at 20
    px/s: their boxes overlap (IoU >= CROSSING_IOU, 0.1) from 9.2 s to 10.8 s. From 10 s the
    tracker's track 1 follows B and track 2 follows A if `swapped`."""

    def script(t: float) -> list[Observation]:
        a = seen(1, x=100 + 20 * t, helmet=M if t < 10 else bare_after(t))
        b = seen(2, x=500 - 20 * t, helmet=P if t < 10 else helmet_after(t))
        if swapped and t >= 10:
            a, b = (
                Observation(o.track_id, other.box, 0.9, o.zones, other.evidence)
                for o, other in ((a, b), (b, a))
            )
        return [a, b]

    return script


def test_ids_swapped_by_a_crossing_raise_neither_an_end_nor_a_second_start():
    events, _ = play(crossing(swapped=True), 20)
    assert summary(events) == [("start", 1, 3.1, None), ("end", 1, 20.0, "stopped")]
    assert events[-1].track_ids == (1, 2)


def test_a_crossing_without_a_swap_changes_nothing():
    events, _ = play(crossing(swapped=False), 20)
    assert summary(events) == [("start", 1, 3.1, None), ("end", 1, 20.0, "stopped")]
    assert events[-1].track_ids == (1,)


def test_a_worker_who_puts_the_helmet_on_after_a_crossing_complies():
    """No swap: A puts his hard hat on at 11 s, just after passing B (still wearing his)."""
    events, _ = play(crossing(swapped=False, bare_after=bare((0, 11))), 20)
    assert summary(events) == [("start", 1, 3.1, None), ("end", 1, 13.0, "complied")]


def test_swapped_ids_after_a_crossing_are_not_repaired_without_the_evidence_changing():
    """Both bare-headed: a swap changes no one's evidence, so the states stay with the
    tracks (one episode each, nothing ended or raised twice)."""

    def script(t: float) -> list[Observation]:
        return [
            Observation(o.track_id, o.box, o.score, o.zones, {PpeItem.HELMET: M})
            for o in crossing(swapped=True)(t)
        ]

    events, _ = play(script, 20)
    assert sorted(summary(events)) == [
        ("end", 1, 20.0, "stopped"),
        ("end", 2, 20.0, "stopped"),
        ("start", 1, 3.1, None),
        ("start", 2, 3.1, None),
    ]


def test_a_swap_whose_evidence_comes_late_is_repaired_before_a_second_start():
    """B's hard hat goes unseen for 2.5 s after the swap (too small, or hidden): track 2
    (now on A) reaches a violation at 13 s, before track 1 shows B's hard hat. Its start
    waits, as it began after meeting a worker in violation for the same item; the swap is
    then seen and repaired."""
    script = crossing(swapped=True, helmet_after=lambda t: Evidence.UNJUDGED if t < 12.5 else P)
    events, _ = play(script, 20)
    assert summary(events) == [("start", 1, 3.1, None), ("end", 1, 20.0, "stopped")]


def test_a_violation_that_begins_at_a_crossing_is_raised_once_no_swap_is_seen():
    """B takes his hard hat off as he passes A (no swap): his start waits for the swap
    window (clear_s + min_violation_s after they last overlapped, at 10.8 s) and is then
    raised with its real onset."""
    events, _ = play(crossing(swapped=False, helmet_after=lambda t: M), 20)
    assert summary(events) == [
        ("start", 1, 3.1, None),
        ("start", 2, 15.9, None),
        ("end", 1, 20.0, "stopped"),
        ("end", 2, 20.0, "stopped"),
    ]
    assert events[1].started_at == pytest.approx(10.0)
