"""Per-child state machine, in the manner of supervisord's `process.py`: every state change
goes through `_change()`, which refuses a transition that the table below does not allow.

    STOPPED ──start──> STARTING ──beating for startsecs──> RUNNING
    STARTING/RUNNING ──exit or hung──> BACKOFF ──delay over──> STARTING
                                   └─> FATAL (budget spent, or config/model exit code)
                                   └─> OFFLINE (the source can never work)
                                   └─> STOPPED (exit 0: a file source ended)
    FATAL (budget spent) ──cool-down over──> STARTING
    any live state ──stop requested──> STOPPING ──reaped──> STOPPED

Pure: no processes, no clocks of its own (callers pass `now`, time.monotonic() seconds), so
that it is tested directly. supervisor/children.py drives it from the real process.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.lifecycle import ExitCode
from pipeline.shm.states import ProcessState
from supervisor.policy import RestartPolicy

logger = logging.getLogger(__name__)

S = ProcessState
ALLOWED: dict[ProcessState, frozenset[ProcessState]] = {
    # Not started yet, finished, or stopped: only a start leaves it.
    S.STOPPED: frozenset({S.STARTING}),
    # Spawned: healthy for startsecs -> RUNNING; or it ended before that (a failed start is
    # handled like any exit: backoff, FATAL, OFFLINE, finished); or a stop was requested.
    S.STARTING: frozenset({S.RUNNING, S.BACKOFF, S.FATAL, S.OFFLINE, S.STOPPED, S.STOPPING}),
    # Healthy: it ends by exiting or being killed as hung, or it is asked to stop.
    S.RUNNING: frozenset({S.BACKOFF, S.FATAL, S.OFFLINE, S.STOPPED, S.STOPPING}),
    # Waiting out the restart delay: started again, or the site stops meanwhile.
    S.BACKOFF: frozenset({S.STARTING, S.STOPPED}),
    # SIGTERM sent: nothing but its exit can follow.
    S.STOPPING: frozenset({S.STOPPED}),
    # Given up: tried again after the cool-down (when one is set and a restart can help).
    S.FATAL: frozenset({S.STARTING}),
    # The source can never work as configured: final.
    S.OFFLINE: frozenset(),
}
ALIVE = frozenset({S.STARTING, S.RUNNING, S.STOPPING})


class IllegalTransition(RuntimeError):
    """A bug in the supervisor: a state change the table does not allow."""


@dataclass(frozen=True)
class ExitReason:
    """How a child's process ended: its exit status (negative: killed by that signal) and,
    when the supervisor killed it as hung, why."""

    code: int
    hung: str | None = None  # e.g. "heartbeat stale for 10.2s"

    def describe(self) -> str:
        if self.code < 0:
            try:
                how = f"was killed by {signal.Signals(-self.code).name}"
            except ValueError:
                how = f"was killed by signal {-self.code}"
        else:
            try:
                how = f"exited with code {self.code} ({ExitCode(self.code).name})"
            except ValueError:
                how = f"exited with code {self.code}"
        return f"hung ({self.hung}), {how}" if self.hung else how


@dataclass(frozen=True)
class Timing:
    """The supervisor_* settings the state machine applies, seconds."""

    startsecs: float = 1.0
    healthy_period: float = 300.0
    fatal_retry: float = 0.0  # 0: a FATAL child is never tried again


class ChildLifecycle:
    """The state of one child and the decisions that move it. `on_change(state)` is called
    after every change (the child writes it to its board row)."""

    def __init__(
        self,
        tag: str,
        policy: RestartPolicy,
        timing: Timing,
        on_change: Callable[[ProcessState], None] = lambda state: None,
    ) -> None:
        self.tag = tag
        self.policy = policy
        self.timing = timing
        self._on_change = on_change
        self.state = S.STOPPED
        self.restarts = 0
        self.last_exit: ExitReason | None = None
        self.retry_at: float | None = None  # BACKOFF: restart time; FATAL: retry time
        self.fatal_reason: str | None = None  # why it went FATAL last (log, process.fatal)
        self.started_at = 0.0
        self.first_beat_at: float | None = None
        self.running_since: float | None = None
        self.refilled = False  # the budget was refilled during this run
        on_change(self.state)

    def _change(self, state: ProcessState) -> None:
        if state not in ALLOWED[self.state]:
            raise IllegalTransition(f"{self.tag}: {self.state.name} -> {state.name} is not allowed")
        self.state = state
        self._on_change(state)

    @property
    def alive(self) -> bool:
        """The state says a process exists (STARTING, RUNNING, STOPPING)."""
        return self.state in ALIVE

    @property
    def permanent(self) -> bool:
        """Down for good: OFFLINE, finished, or FATAL with no retry to come."""
        return self.state in (S.OFFLINE, S.STOPPED) or (
            self.state is S.FATAL and self.retry_at is None
        )

    # -- events ---------------------------------------------------------------------------

    def started(self, now: float) -> None:
        """A process was spawned (first start, restart after backoff, or retry after FATAL)."""
        if self.state in (S.BACKOFF, S.FATAL):
            if self.state is S.FATAL:
                self.policy.refill()  # after the cool-down: a full budget again
            self.policy.record_restart(now)
            self.restarts += 1
        self._change(S.STARTING)
        self.started_at = now
        self.first_beat_at = None
        self.running_since = None
        self.retry_at = None
        self.refilled = False

    def beat(self, heartbeat: float, now: float) -> None:
        """The board row's `heartbeat` as of `now`: STARTING -> RUNNING once it has been
        beating for `startsecs`; a budget refill after `healthy_period` of RUNNING."""
        if self.state is S.STARTING and heartbeat > self.started_at:
            if self.first_beat_at is None:
                self.first_beat_at = now
            if now - self.first_beat_at >= self.timing.startsecs:
                self._change(S.RUNNING)
                self.running_since = now
        elif self.state is S.RUNNING and self.running_since is not None and not self.refilled:
            if now - self.running_since >= self.timing.healthy_period:
                self.refilled = True
                if self.policy.recent_restarts(now):
                    self.policy.refill()
                    logger.info(
                        "%s: healthy for %.0fs; restart budget refilled",
                        self.tag,
                        self.timing.healthy_period,
                    )

    def stop_requested(self, alive: bool) -> None:
        """The site is stopping: a live process gets SIGTERM (STOPPING); one waiting for its
        restart simply stays down."""
        if alive and self.state in (S.STARTING, S.RUNNING):
            self._change(S.STOPPING)
        elif self.state is S.BACKOFF:
            self.retry_at = None
            self._change(S.STOPPED)
        elif self.state is S.FATAL:
            self.retry_at = None  # stays FATAL on the board, no retry during shutdown

    def exited(self, reason: ExitReason, now: float) -> None:
        """The process is gone (reaped): decide what that means."""
        self.last_exit = reason
        code = reason.code
        if self.state is S.STOPPING:
            self._change(S.STOPPED)
            return
        if code == ExitCode.OK and reason.hung is None:
            logger.info("%s: finished", self.tag)
            self._change(S.STOPPED)
            return
        if code == ExitCode.SOURCE:
            logger.error("%s: OFFLINE: its source can never work as configured", self.tag)
            self._change(S.OFFLINE)
            return
        if code in (ExitCode.CONFIG, ExitCode.MODEL):
            self.fatal_reason = f"process {reason.describe()}; a restart cannot fix this"
            logger.error("%s: FATAL: %s, not restarting", self.tag, self.fatal_reason)
            self.retry_at = None
            self._change(S.FATAL)
            return
        delay = self.policy.next_restart_delay(now)
        if delay is None:
            retry = self.timing.fatal_retry
            self.retry_at = now + retry if retry > 0 else None
            self.fatal_reason = (
                f"{self.policy.max_restarts} restarts within {self.policy.window:.0f}s; "
                f"last exit: process {reason.describe()}"
            )
            logger.error(
                "%s: FATAL: %s; %s",
                self.tag,
                self.fatal_reason,
                f"trying again in {retry:.0f}s" if retry > 0 else "not restarting again",
            )
            self._change(S.FATAL)
            return
        self.retry_at = now + delay
        self._change(S.BACKOFF)
        logger.warning("%s: restarting in %.1fs", self.tag, delay)

    def due(self, now: float) -> bool:
        """A restart (BACKOFF) or a retry after the cool-down (FATAL) is due at `now`."""
        return (
            self.state in (S.BACKOFF, S.FATAL)
            and self.retry_at is not None
            and now >= self.retry_at
        )
