"""One supervised child: what it is (ChildSpec), its process, its pipes and its board row.

Its state lives in a ChildLifecycle (supervisor/machine.py); this module does what the
states mean to a real process: spawn it, abort it when it hangs (SIGABRT, so that it writes
the traceback of every thread, then SIGKILL after a grace period), stop it, reap it.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

import numpy as np

from pipeline.shm.board import BOARD_DTYPE, BoardRow
from pipeline.shm.states import ProcessState
from supervisor.bootstrap import SUPERVISOR_SIGNALS, child_main
from supervisor.logsink import LogSink
from supervisor.machine import ChildLifecycle, ExitReason, Timing
from supervisor.policy import RestartPolicy

logger = logging.getLogger(__name__)


class ChildRole(Enum):
    """What a child means to the site: when it stops, and whether the site can run without it."""

    CAMERA = "camera"  # the site runs while at least one camera can; stopped first
    SERVICE = "service"  # helps (event delivery): its FATAL is logged, the site runs on
    INFERENCE = "inference"  # the site cannot run without it: its FATAL ends the site

    @property
    def stop_order(self) -> int:
        """Shutdown stage: cameras (drain their results, finalize recordings), then services
        (flush what the cameras wrote), then inference."""
        return {ChildRole.CAMERA: 0, ChildRole.SERVICE: 1, ChildRole.INFERENCE: 2}[self]


@dataclass(frozen=True)
class ChildSpec:
    """A child as the supervisor starts it."""

    tag: str  # CAM063, INFERENCE: the log tag and the name in messages
    target: Callable[..., None]  # spawn entry point: target(task, log_pipe)
    task: Any  # picklable task description
    row: int  # its row of the status board (it writes its heartbeat there)
    role: ChildRole
    secrets: tuple[str, ...] = field(default=(), repr=False)  # masked in its native output


class Child:
    def __init__(
        self,
        spec: ChildSpec,
        row: BoardRow,
        policy: RestartPolicy,
        timing: Timing,
        context: SpawnContext,
        logs: LogSink,
    ) -> None:
        self.spec = spec
        self.row = row
        self._context = context
        self._logs = logs
        self.process: SpawnProcess | None = None
        self.exit_code: int | None = None
        self.aborted_at: float | None = None  # SIGABRT sent (hung), SIGKILL due after grace
        self._hung: str | None = None
        self.lifecycle = ChildLifecycle(spec.tag, policy, timing, self._write_state)

    def _write_state(self, state: ProcessState) -> None:
        self.row.proc_state = state

    def detach_row(self) -> None:
        """Point `row` at a private record: the board is about to be unmapped."""
        self.row = BoardRow(np.zeros(1, BOARD_DTYPE)[0])

    @property
    def tag(self) -> str:
        return self.spec.tag

    @property
    def state(self) -> ProcessState:
        return self.lifecycle.state

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, now: float) -> None:
        """Spawn the process (first start, restart, or retry after FATAL)."""
        reader, writer = self._context.Pipe(duplex=False)
        out_reader, out_writer = self._context.Pipe(duplex=False)
        # The heartbeat starts at spawn time, so a child that hangs while starting is caught.
        self.row.heartbeat = now
        self.row.model_call_started = 0.0
        process = self._context.Process(
            target=child_main,
            args=(self.spec.target, self.spec.task, writer, out_writer, os.getpid()),
            name=self.tag,
            daemon=False,
        )
        # SIG_BLOCK is inherited across fork and exec: the child cannot die of Ctrl-C or a
        # closed terminal before its bootstrap ignores both. Signals that arrive meanwhile
        # are delivered to the supervisor once unblocked.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISOR_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        writer.close()  # the child holds the only write ends: its death closes the pipes
        out_writer.close()
        self._logs.add_child(reader, self.tag, output=out_reader, secrets=self.spec.secrets)
        self.process = process
        self.exit_code = None
        self.aborted_at = None
        self._hung = None
        self.lifecycle.started(now)
        self.row.pid = process.pid or 0
        self.row.restarts = self.lifecycle.restarts
        if self.lifecycle.restarts:
            logger.info(
                "%s: restarted (pid %d, restart %d)", self.tag, self.row.pid, self.row.restarts
            )

    def beat(self, now: float) -> None:
        self.lifecycle.beat(float(self.row.heartbeat), now)

    def abort(self, now: float, why: str) -> None:
        """The child hangs: SIGABRT makes faulthandler write every thread's traceback (SIGCONT
        lets a stopped process take it); `escalate()` sends SIGKILL after the grace period."""
        if self.aborted_at is not None or not self.alive or self.pid is None:
            return
        self._hung = why
        self.aborted_at = now
        try:
            os.kill(self.pid, signal.SIGABRT)
            os.kill(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def escalate(self, now: float, grace: float) -> None:
        """SIGKILL a child that was aborted `grace` seconds ago and is still there."""
        if self.aborted_at is not None and now - self.aborted_at >= grace and self.alive:
            logger.warning(
                "%s: still there %.0fs after SIGABRT; killing it (SIGKILL)", self.tag, grace
            )
            self.kill()
            self.aborted_at = None  # killed: nothing more to escalate

    @property
    def hung(self) -> bool:
        return self._hung is not None

    def kill(self) -> None:
        if self.alive and self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        """Ask the child to finish cleanly (SIGTERM); a child waiting for its restart stays
        down."""
        alive = self.alive and self.pid is not None
        if alive and self.lifecycle.state in (ProcessState.STARTING, ProcessState.RUNNING):
            assert self.pid is not None
            os.kill(self.pid, signal.SIGTERM)
        self.lifecycle.stop_requested(alive)

    def reap(self) -> ExitReason | None:
        """If the process has exited: join it and return how it ended."""
        if self.process is None or self.process.is_alive():
            return None
        self.process.join()
        code = self.process.exitcode if self.process.exitcode is not None else -1
        self.process.close()
        self.process = None
        self.exit_code = code
        self.aborted_at = None
        return ExitReason(code, self._hung)

    def exited(self, reason: ExitReason, now: float) -> None:
        self.lifecycle.exited(reason, now)
        if not self.lifecycle.alive:
            self.row.pid = 0

    def restart_due(self, now: float) -> bool:
        return self.lifecycle.due(now)
