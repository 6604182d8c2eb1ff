"""One supervised child: its process, its log pipe, its restart policy and its state.

State machine (written to the status board's `proc_state`):
    STOPPED --start()--> STARTING --first heartbeat--> RUNNING
    STARTING/RUNNING --exit or hung--> BACKOFF (restart due later) or FATAL (limit reached,
        or an exit code that says a restart cannot help)
    STARTING/RUNNING --exit 0--> STOPPED (finished: a file source ended)
    any live state --stop()--> STOPPING --reaped--> STOPPED
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from pipeline.lifecycle import NO_RESTART, ExitCode
from pipeline.shm.board import BoardRow
from pipeline.shm.states import ProcessState
from supervisor.logsink import LogSink
from supervisor.policy import RestartPolicy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildSpec:
    tag: str  # CAM063, INFERENCE: the log tag and the name in messages
    target: Callable[..., None]  # spawn entry point: target(task, log_pipe)
    task: Any  # picklable task description


class Child:
    def __init__(
        self,
        spec: ChildSpec,
        row: BoardRow,
        policy: RestartPolicy,
        context: SpawnContext,
        logs: LogSink,
    ) -> None:
        self.spec = spec
        self.row = row
        self.policy = policy
        self._context = context
        self._logs = logs
        self.process: SpawnProcess | None = None
        self.restart_at: float | None = None
        self.exit_code: int | None = None
        self.started_at = 0.0
        self._set_state(ProcessState.STOPPED)

    @property
    def tag(self) -> str:
        return self.spec.tag

    @property
    def state(self) -> ProcessState:
        return self._state

    def _set_state(self, state: ProcessState) -> None:
        self._state = state
        self.row.proc_state = state

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def start(self, now: float) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        # The heartbeat starts at spawn time, so a child that hangs while starting is caught.
        self.row.heartbeat = now
        process = self._context.Process(
            target=self.spec.target, args=(self.spec.task, writer), name=self.tag, daemon=False
        )
        process.start()
        writer.close()  # the child holds the only write end: its death closes the pipe
        self._logs.add_child(reader, self.tag)
        self.process = process
        self.started_at = now
        self.restart_at = None
        self.exit_code = None
        self.row.pid = process.pid or 0
        self._set_state(ProcessState.STARTING)

    def note_heartbeat(self, now: float, timeout: float) -> bool:
        """Update STARTING -> RUNNING; True when the heartbeat is older than `timeout`."""
        age = now - float(self.row.heartbeat)
        if self._state is ProcessState.STARTING and float(self.row.heartbeat) > self.started_at:
            self._set_state(ProcessState.RUNNING)
        return age > timeout

    def kill(self) -> None:
        if self.process is not None and self.process.pid is not None and self.alive:
            os.kill(self.process.pid, signal.SIGKILL)

    def reap(self) -> int | None:
        """If the process has exited: join it and return its exit code (negative: signal)."""
        if self.process is None or self.process.is_alive():
            return None
        self.process.join()
        code = self.process.exitcode if self.process.exitcode is not None else -1
        self.process.close()
        self.process = None
        self.exit_code = code
        return code

    def after_exit(self, code: int, now: float) -> None:
        """Decide what an unrequested exit means: finished, restart later, or give up."""
        if self._state is ProcessState.STOPPING:
            self._set_state(ProcessState.STOPPED)
            return
        if code == ExitCode.OK:
            logger.info("%s: finished", self.tag)
            self._set_state(ProcessState.STOPPED)
            return
        if code in NO_RESTART:
            logger.error(
                "%s: exited with %s; a restart cannot fix this, not restarting",
                self.tag,
                ExitCode(code).name,
            )
            self._set_state(ProcessState.FATAL)
            return
        delay = self.policy.next_restart_delay(now)
        if delay is None:
            logger.critical(
                "%s: FATAL: %d restarts within %.0fs; not restarting again",
                self.tag,
                self.policy.max_restarts,
                self.policy.window,
            )
            self._set_state(ProcessState.FATAL)
            return
        self.restart_at = now + delay
        self._set_state(ProcessState.BACKOFF)
        logger.warning("%s: restarting in %.1fs", self.tag, delay)

    def restart_due(self, now: float) -> bool:
        return (
            self._state is ProcessState.BACKOFF
            and self.restart_at is not None
            and now >= self.restart_at
        )

    def restart(self, now: float) -> None:
        self.policy.record_restart(now)
        self.row.restarts += 1
        self.start(now)
        logger.info("%s: restarted (pid %d, restart %d)", self.tag, self.row.pid, self.row.restarts)

    def stop(self) -> None:
        """Ask the child to finish cleanly (SIGTERM); a BACKOFF child simply stays down."""
        if self.alive and self.process is not None and self.process.pid is not None:
            os.kill(self.process.pid, signal.SIGTERM)
            self._set_state(ProcessState.STOPPING)
        elif self._state is ProcessState.BACKOFF:
            self._set_state(ProcessState.STOPPED)
