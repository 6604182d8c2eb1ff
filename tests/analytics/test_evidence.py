"""One item's state advanced by time: thresholds, hysteresis, absence weight, no-judgement."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.analytics.evidence import Evidence, ItemEvidence, ItemState, classify
from pipeline.config.compliance import ViolationRules

P, A, M, U = Evidence.PRESENT, Evidence.ABSENT, Evidence.MISSING, Evidence.UNJUDGED
RULES = ViolationRules()  # min_violation_s 3, clear_s 2, presence_drain 2, absence_weight 2


def drive(pattern, fps: float, seconds: float, rules: ViolationRules = RULES):
    """Feed `pattern(t)` at `fps`; return [(t, state)] per frame."""
    item, history = ItemEvidence(), []
    for index in range(round(seconds * fps) + 1):
        t = index / fps
        item.observe(pattern(t), t, 0.0 if index == 0 else 1 / fps, rules)
        history.append((t, item.state))
    return item, history


def first_time(history, state: ItemState) -> float | None:
    return next((t for t, s in history if s is state), None)


@pytest.mark.parametrize("fps", [5, 10, 25])
def test_missing_evidence_becomes_a_violation_after_min_violation_s_at_any_rate(fps):
    item, history = drive(lambda t: P if t < 2.0 else M, fps, 8)
    assert first_time(history, ItemState.SUSPECT) == pytest.approx(2.0)
    assert first_time(history, ItemState.VIOLATION) == pytest.approx(5.0)
    assert item.onset == pytest.approx(2.0)


@pytest.mark.parametrize("fps", [5, 25])
def test_a_bare_head_box_speeds_suspicion_up(fps):
    _, history = drive(lambda t: P if t < 2.0 else A, fps, 8)
    violation_at = first_time(history, ItemState.VIOLATION)
    # Twice the weight: half of min_violation_s, at the first frame at or past it.
    assert violation_at is not None and 3.5 - 1e-9 <= violation_at < 3.5 + 1 / fps


@pytest.mark.parametrize(
    ("name", "pattern", "violation_at", "compliant_again_at"),
    [
        # Helmet off at 1 s, back on at 6 s: violation at 4, over 2 s after it is back.
        ("removed and put back", lambda t: M if 1 <= t < 6 else P, 4.0, 8.0),
        # One frame with a helmet in the middle of a violation ends nothing.
        ("one false helmet", lambda t: P if t < 1 or abs(t - 5) < 0.05 or t >= 9 else M, 4.0, 11.0),
        # Absent for 1 s then present: suspicion drains twice as fast, never a violation.
        ("short suspicion", lambda t: M if 1 <= t < 2 else P, None, None),
        # Too small to judge for a while: the state holds, then continues.
        # (1 s missing, 8 s unjudged, then 2 s more missing.)
        ("unjudged pause", lambda t: P if t < 1 else U if 2 <= t < 10 else M, 12.0, None),
    ],
)
def test_scripted_item_timelines(name, pattern, violation_at, compliant_again_at):
    _, history = drive(pattern, 10, 14)
    assert first_time(history, ItemState.VIOLATION) == (
        None if violation_at is None else pytest.approx(violation_at)
    ), name
    if compliant_again_at is not None:
        after = [t for t, s in history if t > violation_at and s is ItemState.COMPLIANT]
        assert after and after[0] == pytest.approx(compliant_again_at), name


def test_a_flickering_detector_keeps_a_compliant_worker_compliant():
    """Helmet found in 45% of frames at random: above the 1/3 that presence_drain 2 needs."""
    rng = np.random.default_rng(7)
    seen = rng.random(3000) < 0.45
    _, history = drive(lambda t: P if seen[round(t * 25)] else M, 25, 110)
    assert first_time(history, ItemState.VIOLATION) is None


def test_a_violator_with_a_few_false_helmets_still_raises():
    """A helmet hallucinated in 15% of frames delays the violation a little, no more."""
    rng = np.random.default_rng(8)
    seen = rng.random(3000) < 0.15
    _, history = drive(lambda t: P if seen[round(t * 25)] else M, 25, 30)
    violation_at = first_time(history, ItemState.VIOLATION)
    assert violation_at is not None and violation_at < 3.0 / (1 - 0.15 * 3) + 2.0


def test_tiny_or_cut_off_workers_are_not_judged():
    item = ItemEvidence()
    for index in range(100):
        item.observe(U, index / 10, 0.1, RULES)
    assert item.state is ItemState.COMPLIANT and not item.judged


@pytest.mark.parametrize(
    ("present", "absent", "judgeable", "expected"),
    [
        (0.8, 0.0, True, P),
        (0.8, 0.0, False, P),  # a helmet seen on a small worker still counts
        (0.0, 0.0, True, M),
        (0.0, 0.0, False, U),
        (0.0, 0.6, True, A),
        (0.0, 0.6, False, U),  # a `head` box on a tiny figure is not trusted
        (0.5, 0.7, True, A),  # the stronger box wins
        (0.7, 0.7, True, P),
    ],
)
def test_classify(present, absent, judgeable, expected):
    assert classify(present, absent, judgeable) is expected
