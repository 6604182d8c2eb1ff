"""Restart delays: exponential, jittered, capped; a budget per window, refilled on demand."""

import random

import pytest

from supervisor.policy import RestartPolicy


def test_delays_grow_then_give_up_at_the_limit():
    policy = RestartPolicy(max_restarts=3, window=60.0, first_delay=0.5, max_delay=1.5, jitter=0)
    delays = []
    for now in (0.0, 1.0, 2.0, 3.0):
        delay = policy.next_restart_delay(now)
        delays.append(delay)
        if delay is not None:
            policy.record_restart(now)
    assert delays == [0.5, 1.0, 1.5, None]


def test_window_forgets_old_restarts():
    policy = RestartPolicy(max_restarts=2, window=10.0, jitter=0)
    policy.record_restart(0.0)
    policy.record_restart(1.0)
    assert policy.next_restart_delay(5.0) is None
    assert policy.recent_restarts(10.5) == 1
    assert policy.next_restart_delay(11.5) == pytest.approx(0.5)


def test_zero_restarts_allowed_means_first_failure_is_fatal():
    assert RestartPolicy(max_restarts=0, window=3600.0).next_restart_delay(0.0) is None


@pytest.mark.parametrize("restarts", [0, 1, 2, 3, 6, 12])
def test_jitter_stays_within_its_band_and_under_the_cap(restarts):
    policy = RestartPolicy(
        max_restarts=100, window=1e9, first_delay=0.5, max_delay=30.0, rng=random.Random(7)
    )
    for number in range(restarts):
        policy.record_restart(float(number))
    base = min(0.5 * 2**restarts, 30.0)
    delays = [policy.next_restart_delay(100.0) for _ in range(200)]
    assert all(d is not None and base * 0.8 - 1e-9 <= d <= min(base * 1.2, 30.0) for d in delays)
    assert len(set(delays)) > 100  # really jittered, not one fixed value


def test_refill_restores_the_budget_and_the_shortest_delay():
    policy = RestartPolicy(max_restarts=2, window=3600.0, jitter=0)
    policy.record_restart(0.0)
    policy.record_restart(1.0)
    assert policy.next_restart_delay(2.0) is None
    policy.refill()
    assert policy.budget_left(2.0) == 2
    assert policy.next_restart_delay(2.0) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"jitter": 1.0}, "jitter is a fraction"), ({"first_delay": 5, "max_delay": 1}, "max_delay")],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RestartPolicy(max_restarts=1, window=1.0, **kwargs)
