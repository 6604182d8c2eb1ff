import pytest

from pipeline.camera.reconnect import ReconnectPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def policy(clock: Clock, uniform: float = 0.0, **kwargs) -> ReconnectPolicy:
    return ReconnectPolicy(1.0, 60.0, clock=clock, uniform=lambda: uniform, **kwargs)


def test_delays_double_up_to_the_cap():
    backoff = policy(Clock())
    delays = [backoff.next_delay() for _ in range(9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]


@pytest.mark.parametrize(
    ("uniform", "expected"),
    [(0.0, [1.0, 2.0, 4.0]), (0.5, [0.9, 1.8, 3.6]), (0.999, [0.8002, 1.6004, 3.2008])],
)
def test_jitter_only_shortens_a_delay(uniform, expected):
    backoff = policy(Clock(), uniform=uniform, jitter=0.2)
    assert [backoff.next_delay() for _ in range(3)] == pytest.approx(expected)


def test_jitter_never_exceeds_the_cap():
    backoff = ReconnectPolicy(1.0, 5.0, jitter=0.3)
    assert all(0.7 * min(2**n, 5.0) <= backoff.next_delay() <= 5.0 for n in range(20))


def test_healthy_period_resets_the_backoff():
    clock = Clock()
    backoff = policy(clock)
    for _ in range(4):
        backoff.next_delay()
    backoff.connected()
    clock.now += 30.0
    backoff.lost()
    assert backoff.next_delay() == 1.0


def test_short_lived_connection_keeps_growing():
    """A flapping camera (up a few seconds, then down) is tried less and less often."""
    clock = Clock()
    backoff = policy(clock)
    delays = []
    for _ in range(4):
        delays.append(backoff.next_delay())
        backoff.connected()
        clock.now += 5.0
        backoff.lost()
    assert delays == [1, 2, 4, 8]


def test_slow_delay_is_the_cap_and_counts_a_failure():
    backoff = policy(Clock(), uniform=0.5, jitter=0.2)
    assert backoff.slow_delay() == pytest.approx(54.0)
    assert backoff.failures == 1


@pytest.mark.parametrize(
    ("initial", "maximum", "kwargs"),
    [(0.0, 1.0, {}), (2.0, 1.0, {}), (1.0, 2.0, {"jitter": 1.0}), (1.0, 2.0, {"multiplier": 0.5})],
)
def test_rejects_impossible_settings(initial, maximum, kwargs):
    with pytest.raises(ValueError):
        ReconnectPolicy(initial, maximum, **kwargs)
