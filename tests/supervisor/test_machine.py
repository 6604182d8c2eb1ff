"""The per-child state machine, driven directly (no processes): every transition the table
allows and refuses, startsecs, the budget refill, FATAL with its last exit, the cool-down."""

import logging
import signal

import pytest

from pipeline.lifecycle import ExitCode
from pipeline.shm.states import ProcessState as S
from supervisor.machine import ALLOWED, ChildLifecycle, ExitReason, IllegalTransition, Timing
from supervisor.policy import RestartPolicy

CRASH = ExitReason(int(ExitCode.CRASHED))
KILLED = ExitReason(-signal.SIGKILL)


def machine(max_restarts=3, startsecs=1.0, healthy=60.0, fatal_retry=0.0, seen=None):
    policy = RestartPolicy(max_restarts, window=3600.0, first_delay=0.5, max_delay=4.0, jitter=0)
    return ChildLifecycle(
        "CAM1",
        policy,
        Timing(startsecs=startsecs, healthy_period=healthy, fatal_retry=fatal_retry),
        on_change=(seen.append if seen is not None else lambda state: None),
    )


def running(lifecycle: ChildLifecycle, now: float = 0.0) -> ChildLifecycle:
    lifecycle.started(now)
    lifecycle.beat(heartbeat=now + 0.1, now=now + 0.1)
    lifecycle.beat(heartbeat=now + 1.2, now=now + 1.2)
    assert lifecycle.state is S.RUNNING
    return lifecycle


def test_every_state_has_its_allowed_transitions():
    assert set(ALLOWED) == set(S)
    assert ALLOWED[S.OFFLINE] == frozenset()  # final
    assert ALLOWED[S.STOPPING] == {S.STOPPED}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (S.STOPPED, S.RUNNING),
        (S.STOPPED, S.FATAL),
        (S.BACKOFF, S.RUNNING),
        (S.STOPPING, S.BACKOFF),
        (S.FATAL, S.RUNNING),
        (S.OFFLINE, S.STARTING),
    ],
)
def test_a_transition_outside_the_table_is_refused(before, after):
    lifecycle = machine()
    lifecycle.state = before
    with pytest.raises(IllegalTransition, match=f"{before.name} -> {after.name}"):
        lifecycle._change(after)


def test_running_only_after_startsecs_of_beating():
    seen: list[S] = []
    lifecycle = machine(startsecs=2.0, seen=seen)
    lifecycle.started(10.0)
    lifecycle.beat(heartbeat=10.0, now=30.0)  # the spawn-time heartbeat is no beat
    assert lifecycle.state is S.STARTING
    lifecycle.beat(heartbeat=30.5, now=30.5)  # first beat (models loaded)
    lifecycle.beat(heartbeat=32.0, now=32.0)
    assert lifecycle.state is S.STARTING
    lifecycle.beat(heartbeat=32.6, now=32.6)
    assert lifecycle.state is S.RUNNING
    assert seen == [S.STOPPED, S.STARTING, S.RUNNING]


def test_exit_during_start_backs_off_like_any_crash():
    lifecycle = machine()
    lifecycle.started(0.0)
    lifecycle.exited(CRASH, now=0.3)
    assert lifecycle.state is S.BACKOFF
    assert lifecycle.retry_at == pytest.approx(0.8)
    assert not lifecycle.due(0.7) and lifecycle.due(0.8)


def test_backoff_delays_grow_then_fatal_with_the_last_exit_at_error(caplog):
    caplog.set_level(logging.INFO)
    lifecycle = machine(max_restarts=3)
    now, delays = 0.0, []
    lifecycle.started(now)
    while True:
        lifecycle.exited(KILLED if len(delays) == 3 else CRASH, now)
        if lifecycle.state is S.FATAL:
            break
        assert lifecycle.retry_at is not None
        delays.append(lifecycle.retry_at - now)
        now = lifecycle.retry_at
        lifecycle.started(now)
    assert delays == [0.5, 1.0, 2.0]
    assert lifecycle.restarts == 3
    assert lifecycle.permanent  # no cool-down configured
    fatal = [r for r in caplog.records if "FATAL" in r.getMessage()]
    assert len(fatal) == 1 and fatal[0].levelno == logging.ERROR
    assert fatal[0].getMessage() == (
        "CAM1: FATAL: 3 restarts within 3600s; last exit: process was killed by SIGKILL; "
        "not restarting again"
    )


def test_budget_refills_after_a_healthy_period():
    lifecycle = machine(max_restarts=2, healthy=60.0)
    lifecycle.started(0.0)
    lifecycle.exited(CRASH, 1.0)
    running(lifecycle, now=2.0)
    lifecycle.exited(CRASH, 5.0)
    running(lifecycle, now=6.0)
    assert lifecycle.policy.budget_left(10.0) == 0
    lifecycle.beat(heartbeat=60.0, now=60.0)  # RUNNING since 7.2: not yet 60 s
    assert lifecycle.policy.budget_left(60.0) == 0
    lifecycle.beat(heartbeat=67.3, now=67.3)
    assert lifecycle.policy.budget_left(70.0) == 2
    lifecycle.exited(CRASH, 71.0)
    assert lifecycle.state is S.BACKOFF
    assert lifecycle.retry_at == pytest.approx(71.5)  # the shortest delay again


@pytest.mark.parametrize(
    ("code", "state", "permanent"),
    [
        (ExitCode.OK, S.STOPPED, True),
        (ExitCode.SOURCE, S.OFFLINE, True),
        (ExitCode.CONFIG, S.FATAL, True),
        (ExitCode.MODEL, S.FATAL, True),
        (ExitCode.CRASHED, S.BACKOFF, False),
    ],
)
def test_exit_codes_decide_the_next_state(code, state, permanent):
    lifecycle = running(machine(fatal_retry=600.0))
    lifecycle.exited(ExitReason(int(code)), now=5.0)
    assert lifecycle.state is state
    assert lifecycle.permanent is permanent


def test_config_and_model_errors_are_never_retried_even_with_a_cool_down():
    lifecycle = running(machine(fatal_retry=60.0))
    lifecycle.exited(ExitReason(int(ExitCode.MODEL)), now=5.0)
    assert lifecycle.retry_at is None and not lifecycle.due(1e9)


def test_fatal_is_retried_after_the_cool_down_with_a_full_budget(caplog):
    caplog.set_level(logging.ERROR)
    lifecycle = machine(max_restarts=1, fatal_retry=600.0)
    lifecycle.started(0.0)
    lifecycle.exited(CRASH, 1.0)
    lifecycle.started(1.5)
    lifecycle.exited(CRASH, 2.0)
    assert lifecycle.state is S.FATAL and not lifecycle.permanent
    assert "trying again in 600s" in caplog.records[-1].getMessage()
    assert not lifecycle.due(601.9) and lifecycle.due(602.0)
    lifecycle.started(602.0)
    assert lifecycle.state is S.STARTING
    assert lifecycle.policy.budget_left(603.0) == 0  # the retry itself counts ...
    lifecycle.exited(CRASH, 603.0)
    assert lifecycle.state is S.FATAL  # ... so a child that still crashes is FATAL again


def test_hung_exit_describes_why():
    reason = ExitReason(-signal.SIGABRT, hung="heartbeat stale for 10.2s")
    assert reason.describe() == "hung (heartbeat stale for 10.2s), was killed by SIGABRT"
    assert ExitReason(3).describe() == "exited with code 3 (MODEL)"
    assert ExitReason(77).describe() == "exited with code 77"


@pytest.mark.parametrize(
    ("state", "alive", "after"),
    [
        (S.RUNNING, True, S.STOPPING),
        (S.STARTING, True, S.STOPPING),
        (S.BACKOFF, False, S.STOPPED),
        (S.FATAL, False, S.FATAL),
        (S.OFFLINE, False, S.OFFLINE),
    ],
)
def test_stop_request_in_each_state(state, alive, after):
    lifecycle = machine()
    lifecycle.state = state
    lifecycle.stop_requested(alive)
    assert lifecycle.state is after
    if after is S.STOPPING:
        lifecycle.exited(ExitReason(-signal.SIGTERM), now=1.0)
        assert lifecycle.state is S.STOPPED
