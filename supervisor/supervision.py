"""The supervisor's loop, in the manner of gunicorn's arbiter:

    handle signals -> reap exited children -> check health -> restart what is due -> outcome

over a list of Child objects, whatever they run (tests drive it with small test children).

Health: a child that has not beaten yet (loading its models) has `startup_timeout`; after
that its heartbeat may be at most `heartbeat_timeout` old, except that while the inference
process is inside a model call (the board's `model_call_started`), the call may run for
`inference_timeout`. A child past its allowance is hung: SIGABRT makes it write the
traceback of every thread into pipeline.log, SIGKILL follows after `abort_grace`, and it is
restarted by policy.

A child that goes FATAL is also an operational event, `process.fatal`, stored in the site's
events outbox when it has sinks (the delivery process sends it like any other event).

Shutdown (a requested stop, or the site ended): in stages by role, within
`shutdown_timeout`: cameras stop producing, drain their in-flight results and finalize their
recordings while inference still answers; then services (event delivery) flush; then
inference. A child that outlives its stage is aborted (traceback) and killed. A second
SIGINT or SIGTERM forces: everything is killed at once. SIGHUP never forces: a closed
terminal may deliver it more than once.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pipeline.config import SiteConfig
from pipeline.events import EventEmitter, EventType
from pipeline.lifecycle import ExitCode
from pipeline.shm.states import ProcessState
from supervisor.children import Child, ChildRole
from supervisor.machine import ExitReason

logger = logging.getLogger(__name__)

TICK = 0.1  # seconds per loop iteration
STOP_GRACE = 5.0  # seconds a child has to exit after SIGTERM (beyond its own drain time)
ABORT_AT_STOP = 1.0  # seconds between SIGABRT and SIGKILL for a child that will not stop
FORCING = (signal.SIGINT, signal.SIGTERM)


class View(Protocol):
    def refresh(self, now: float) -> None: ...


class NoView:
    def refresh(self, now: float) -> None:
        pass


@dataclass(frozen=True)
class Limits:
    """Time limits of supervision, seconds."""

    heartbeat_timeout: float = 30.0
    startup_timeout: float = 600.0
    inference_timeout: float = 60.0
    abort_grace: float = 5.0
    shutdown_timeout: float = 30.0
    camera_drain: float = 2.0  # how long a stopping camera waits for its in-flight results

    @classmethod
    def of(cls, config: SiteConfig) -> Limits:
        return cls(
            heartbeat_timeout=config.supervisor_heartbeat_timeout,
            startup_timeout=max(
                config.supervisor_heartbeat_timeout, config.supervisor_startup_timeout
            ),
            inference_timeout=config.supervisor_inference_timeout,
            abort_grace=config.supervisor_abort_grace,
            shutdown_timeout=config.supervisor_shutdown_timeout,
            camera_drain=config.transport.result_timeout,
        )


@dataclass(frozen=True)
class SiteEnd:
    code: ExitCode
    why: str


class Supervision:
    def __init__(self, children: list[Child], limits: Limits, view: View | None = None) -> None:
        self.children = children
        self.limits = limits
        self.view: View = view or NoView()
        # Where process.fatal goes, set once the outbox is open (None: the site has no sinks).
        self.events: EventEmitter | None = None
        self.signals: list[int] = []

    # -- signals (handlers only record) -----------------------------------------------------

    def request(self, signum: int) -> None:
        self.signals.append(signum)

    @property
    def forced(self) -> bool:
        return sum(1 for signum in self.signals if signum in FORCING) >= 2

    # -- the loop -------------------------------------------------------------------------

    def run(self, duration: float | None = None) -> ExitCode:
        """Supervise until a signal, `duration` seconds, or the site can run no more; then
        shut down. Returns the site's exit code."""
        started = time.monotonic()
        end: SiteEnd | None = None
        while end is None:
            now = time.monotonic()
            if self.signals:
                name = signal.Signals(self.signals[0]).name
                end = SiteEnd(ExitCode.OK, f"Stop requested (signal {name})")
                break
            end = self.tick(now)
            if end is None and duration is not None and now - started >= duration:
                end = SiteEnd(ExitCode.OK, f"Duration of {duration:.0f}s reached; stopping")
            if end is None:
                self.view.refresh(now)
                time.sleep(TICK)
        logger.log(logging.INFO if end.code == ExitCode.OK else logging.ERROR, "%s", end.why)
        self.shutdown()
        return end.code

    def tick(self, now: float) -> SiteEnd | None:
        """One iteration: reap, check health, restart; the site's end if it can run no more."""
        self.reap(now)
        self.check_health(now)
        for child in self.children:
            if child.restart_due(now):
                child.start(now)
        return self.outcome()

    def reap(self, now: float) -> None:
        for child in self.children:
            reason = child.reap()
            if reason is None:
                continue
            if child.state is not ProcessState.STOPPING:
                level = logging.INFO if reason.code == 0 and not reason.hung else logging.ERROR
                logger.log(level, "%s: process %s", child.tag, reason.describe())
            was_fatal = child.state is ProcessState.FATAL
            child.exited(reason, now)
            if child.state is ProcessState.FATAL and not was_fatal:
                self._report_fatal(child, reason, now)

    def _report_fatal(self, child: Child, reason: ExitReason, now: float) -> None:
        if self.events is None:
            return
        payload = {
            "process": child.tag,
            "exit_code": reason.code,
            "restarts": child.lifecycle.policy.recent_restarts(now),
            "reason": child.lifecycle.fatal_reason or reason.describe(),
        }
        camera = child.tag if child.spec.role is ChildRole.CAMERA else None
        self.events.emit(EventType.PROCESS_FATAL, payload, camera=camera)

    def check_health(self, now: float) -> None:
        limits = self.limits
        for child in self.children:
            if child.aborted_at is not None:
                child.escalate(now, limits.abort_grace)
                continue
            if child.state not in (ProcessState.STARTING, ProcessState.RUNNING) or not child.alive:
                continue
            child.beat(now)
            hung = self._hung(child, now)
            if hung is not None:
                logger.warning(
                    "%s: %s; sending SIGABRT for a traceback of every thread", child.tag, hung
                )
                child.abort(now, hung)

    def _hung(self, child: Child, now: float) -> str | None:
        """Why `child` counts as hung at `now`, or None."""
        limits = self.limits
        call_started = float(child.row.model_call_started)
        if child.spec.role is ChildRole.INFERENCE and call_started > 0:
            running = now - call_started
            if running > limits.inference_timeout:
                return (
                    f"model call running for {running:.1f}s "
                    f"(inference timeout {limits.inference_timeout:.0f}s)"
                )
            return None
        age = now - float(child.row.heartbeat)
        if child.lifecycle.first_beat_at is None:  # not one beat yet: loading, starting
            if age > limits.startup_timeout:
                return f"did not finish starting within {limits.startup_timeout:.0f}s"
            return None
        if age > limits.heartbeat_timeout:
            return f"Heartbeat timeout ({limits.heartbeat_timeout:.0f}s): last beat {age:.1f}s ago"
        return None

    def outcome(self) -> SiteEnd | None:
        """The site's end when nothing can run any more: inference FATAL, or no camera left
        that runs or will be restarted."""
        for child in self._role(ChildRole.INFERENCE):
            if child.state is ProcessState.FATAL:
                last = child.lifecycle.last_exit
                code = ExitCode.CRASHED
                if last is not None and last.code in (ExitCode.MODEL, ExitCode.CONFIG):
                    code = ExitCode(last.code)
                why = last.describe() if last else "FATAL"
                return SiteEnd(code, f"Inference cannot run ({why}); stopping the site")
        cameras = list(self._role(ChildRole.CAMERA))
        down = (ProcessState.STOPPED, ProcessState.OFFLINE, ProcessState.FATAL)
        if not cameras or any(child.state not in down for child in cameras):
            return None
        if all(child.state is ProcessState.STOPPED for child in cameras):
            return SiteEnd(ExitCode.OK, "Every camera has finished; stopping the site")
        states = ", ".join(f"{child.tag} {child.state.name}" for child in cameras)
        fatal = any(child.state is ProcessState.FATAL for child in cameras)
        code = ExitCode.CRASHED if fatal else ExitCode.SOURCE
        return SiteEnd(code, f"No camera can run any more ({states}); stopping the site")

    def _role(self, role: ChildRole) -> Iterable[Child]:
        return (child for child in self.children if child.spec.role is role)

    # -- shutdown -------------------------------------------------------------------------

    def shutdown(self) -> None:
        limits = self.limits
        deadline = time.monotonic() + limits.shutdown_timeout
        stages = sorted({child.spec.role for child in self.children}, key=lambda r: r.stop_order)
        for number, role in enumerate(stages):
            children = list(self._role(role))
            later = len(stages) - number - 1
            grace = STOP_GRACE + (limits.camera_drain if role is ChildRole.CAMERA else 0.0)
            # Leave each later stage a moment of its own, whatever this one takes.
            reserve = later * min(STOP_GRACE, limits.shutdown_timeout / (2 * len(stages)))
            stage_end = min(time.monotonic() + grace, deadline - reserve)
            self._stop_stage(children, stage_end)

    def _stop_stage(self, children: list[Child], deadline: float) -> None:
        for child in children:
            child.terminate()
        aborted_at: float | None = None
        while True:
            now = time.monotonic()
            self.reap(now)
            alive = [child for child in children if child.alive]
            if not alive:
                break
            if self.forced:
                for child in alive:
                    logger.warning("%s: killed (stop forced)", child.tag)
                    child.kill()
                break
            if aborted_at is None and now >= deadline:
                for child in alive:
                    logger.warning(
                        "%s: did not stop in time; sending SIGABRT for a traceback", child.tag
                    )
                    child.abort(now, "did not stop in time")
                aborted_at = now
            if aborted_at is not None and now - aborted_at >= ABORT_AT_STOP:
                for child in alive:
                    logger.warning("%s: did not stop in time; killing it", child.tag)
                    child.kill()
                break
            self.view.refresh(now)
            time.sleep(TICK / 2)
        for child in children:
            for _ in range(100):  # a SIGKILLed process is gone within milliseconds
                if child.process is None or not child.alive:
                    break
                time.sleep(0.01)
        self.reap(time.monotonic())
