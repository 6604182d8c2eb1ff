import pytest

from supervisor.policy import RestartPolicy


def test_delays_grow_then_give_up_at_the_limit():
    policy = RestartPolicy(max_restarts=3, window=60.0, first_delay=0.5, max_delay=1.5)
    delays = []
    for now in (0.0, 1.0, 2.0, 3.0):
        delay = policy.next_restart_delay(now)
        delays.append(delay)
        if delay is not None:
            policy.record_restart(now)
    assert delays == [0.5, 1.0, 1.5, None]


def test_window_forgets_old_restarts():
    policy = RestartPolicy(max_restarts=2, window=10.0)
    policy.record_restart(0.0)
    policy.record_restart(1.0)
    assert policy.next_restart_delay(5.0) is None
    assert policy.recent_restarts(10.5) == 1
    assert policy.next_restart_delay(11.5) == pytest.approx(0.5)


def test_zero_restarts_allowed_means_first_failure_is_fatal():
    assert RestartPolicy(max_restarts=0, window=3600.0).next_restart_delay(0.0) is None
