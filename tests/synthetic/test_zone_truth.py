"""Per-frame compliance truth (zone.judge_frame) and its episodes (episodes.truth_episodes)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config.compliance import PpeItem
from pipeline.synthetic import FrameTruth, WorkerTruth
from pipeline.synthetic.episodes import truth_episodes
from pipeline.synthetic.zone import GroundPatch, WorkerCompliance, WorkZone, judge_frame

# The lower half of a 640x360 frame.
ZONE = WorkZone(
    "work_area",
    np.array([[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]),
    GroundPatch(-5.0, 5.0, 2.0, 20.0),
)
HELMET, VEST = PpeItem.HELMET, PpeItem.VEST


def worker(
    box: tuple[float, float, float, float],
    helmet: bool = True,
    vest: bool = True,
    visibility: float = 1.0,
) -> WorkerTruth:
    return WorkerTruth(7, box, None, None, helmet, vest, visibility)


@pytest.mark.parametrize(
    ("box", "helmet", "vest", "visibility", "in_zone", "missing", "judgeable"),
    [
        ((300, 200, 330, 300), True, True, 1.0, True, (), True),
        ((300, 200, 330, 300), False, True, 1.0, True, (HELMET,), True),
        ((300, 200, 330, 300), False, False, 1.0, True, (HELMET, VEST), True),
        ((300, 50, 330, 150), False, True, 1.0, False, (HELMET,), True),  # feet above the zone
        ((300, 100, 330, 180), True, False, 1.0, True, (VEST,), True),  # feet on its edge
        ((300, 200, 330, 247), False, True, 1.0, True, (HELMET,), False),  # 47 px: 23.5 input
        ((300, 200, 330, 248), False, True, 1.0, True, (HELMET,), True),  # 48 px: 24 input
        ((300, 200, 330, 300), False, True, 0.49, True, (HELMET,), False),  # mostly hidden
        ((600, 300, 640, 360), False, True, 1.0, True, (HELMET,), True),  # cut at the corner
    ],
)
def test_judge_frame_applies_zone_items_and_size(
    box: tuple[float, float, float, float],
    helmet: bool,
    vest: bool,
    visibility: float,
    in_zone: bool,
    missing: tuple[PpeItem, ...],
    judgeable: bool,
) -> None:
    truth = FrameTruth(3, [worker(box, helmet, vest, visibility)])
    (judged,) = judge_frame(truth, ZONE, (640, 360), (320, 320), min_person_height_px=24)
    assert (judged.in_zone, judged.missing, judged.judgeable) == (in_zone, missing, judgeable)
    assert judged.violating == (in_zone and bool(missing))


@pytest.mark.parametrize(
    ("missing", "top", "counts"),
    [
        ((HELMET,), 0.0, False),  # head cut by the top of the frame: no helmet to judge
        ((HELMET,), 2.0, True),
        ((HELMET, VEST), 0.0, True),  # the vest is still judged
        ((VEST,), 0.0, True),
    ],
)
def test_a_missing_helmet_needs_the_head_in_the_frame(
    missing: tuple[PpeItem, ...], top: float, counts: bool
) -> None:
    judged = WorkerCompliance(1, (0.0, top, 30.0, 300.0), True, missing, True, top > 1.0)
    assert judged.judgeable_violation is counts


def frames(
    *spans: tuple[int, int, bool], hidden: tuple[int, int] = (-1, -1)
) -> list[tuple[int, tuple[WorkerCompliance, ...]]]:
    """Frames 0..99 of one worker (id 4): violating in each (first, last, judgeable) span,
    out of sight (visibility 0) in frames hidden[0]..hidden[1]."""
    result = []
    for index in range(100):
        violating = any(first <= index <= last for first, last, _ in spans)
        judgeable = any(first <= index <= last and j for first, last, j in spans)
        seen = 0.0 if hidden[0] <= index <= hidden[1] else 1.0
        missing = (HELMET,) if violating else ()
        box = (0.0, 10.0, 10.0, 40.0)
        worker = WorkerCompliance(4, box, True, missing, judgeable and seen > 0, True, seen)
        result.append((index, (worker,)))
    return result


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], []),
        ([(10, 39, True)], [(10, 39, 30)]),
        ([(10, 19, True), (25, 39, True)], [(10, 39, 25)]),  # 5 compliant frames: merged
        ([(10, 19, True), (30, 39, True)], [(10, 19, 10), (30, 39, 10)]),  # 10 frames apart
        ([(10, 19, False), (20, 29, True)], [(10, 29, 10)]),  # small at first, then judged
        ([(90, 99, True)], [(90, 99, 10)]),  # still open at the end
    ],
)
def test_truth_episodes_merge_short_gaps(
    spans: list[tuple[int, int, bool]], expected: list[tuple[int, int, int]]
) -> None:
    episodes = truth_episodes(frames(*spans), fps=10.0, merge_gap_s=1.0)
    assert [(e.first_index, e.last_index, e.judged_frames) for e in episodes] == expected
    for episode in episodes:
        assert episode.missing == {HELMET}
        assert episode.start_s == episode.first_index / 10.0
        assert episode.end_s == (episode.last_index + 1) / 10.0


@pytest.mark.parametrize(
    ("hidden", "expected"),
    [
        ((30, 49), [(10, 29, 20), (50, 79, 30)]),  # 2 s out of sight > lost_s: two episodes
        ((30, 39), [(10, 79, 60)]),  # 1 s: the tracker may bridge it, one episode
        ((5, 35), [(10, 79, 44)]),  # hidden from before the start: one, judged when seen
    ],
)
def test_an_episode_ends_when_its_worker_is_out_of_sight_too_long(
    hidden: tuple[int, int], expected: list[tuple[int, int, int]]
) -> None:
    spans = [(10, 79, True)]
    episodes = truth_episodes(frames(*spans, hidden=hidden), 10.0, merge_gap_s=10.0, lost_s=1.5)
    assert [(e.first_index, e.last_index, e.judged_frames) for e in episodes] == expected


@pytest.mark.parametrize(("judged_frames", "expected"), [(30, False), (39, False), (40, True)])
def test_an_episode_is_expected_after_min_violation_and_margin(
    judged_frames: int, expected: bool
) -> None:
    spans = [(0, judged_frames - 1, True)]
    (episode,) = truth_episodes(frames(*spans), fps=10.0, merge_gap_s=1.0)
    assert episode.expected(min_violation_s=3.0, margin_s=1.0) is expected
    assert episode.judged_from_s == 0.0
