"""The site's supervisor: creates the shared memory, describes the children, and hands them
to the supervision loop (supervisor/supervision.py).

Signal handlers only record the signal: SIGINT, SIGTERM and SIGHUP (the terminal closed: an
SSH session dropped, a tmux server killed) start a clean stop; a second SIGINT or SIGTERM
forces it. Shared memory is unlinked on every way out.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing import resource_tracker
from pathlib import Path
from types import FrameType

from pipeline.camera.process import CameraTask, camera_main
from pipeline.camera.urls import secret_values
from pipeline.config.sources import GStreamerSource, RtspSource
from pipeline.events import EventEmitter, Outbox, OutboxError
from pipeline.events.process import DeliveryTask, delivery_main
from pipeline.infer.process import InferenceTask, inference_main
from pipeline.logs import EVENTS_TAG, INFERENCE_TAG
from pipeline.shm.board import StatusBoard
from pipeline.shm.layout import INFERENCE_ROW, SiteLayout
from pipeline.shm.ring import FrameRing, ResultRing
from pipeline.shm.segments import (
    SegmentNames,
    ShmSpaceError,
    remove_stale_segments,
    run_prefix,
    shm_free_bytes,
)
from supervisor.bootstrap import SUPERVISOR_SIGNALS
from supervisor.children import Child, ChildRole, ChildSpec
from supervisor.dashboard import StatusView
from supervisor.logsink import LogSink
from supervisor.machine import Timing
from supervisor.policy import RestartPolicy
from supervisor.preflight import SitePlan
from supervisor.supervision import Limits, Supervision
from supervisor.terminal import Terminal

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class RunOptions:
    run_dir: Path
    log_file: Path
    duration: float | None  # seconds, None: until a signal
    dashboard: bool  # rich live view (only when stdout is a terminal)
    terminal: Terminal | None = None  # where the view is drawn (None: a new one)


class Supervisor:
    def __init__(self, plan: SitePlan, options: RunOptions) -> None:
        self.plan = plan
        self.config = plan.config
        self.options = options
        self._context = multiprocessing.get_context("spawn")
        self.layout = SiteLayout(
            segments=SegmentNames(run_prefix(self.config.site)),
            cameras=len(self.config.cameras),
            ring_slots=self.config.transport.ring_slots,
            views=plan.models.views,
            max_detections=plan.models.max_detections,
            models=len(plan.models.models),
            delivery=plan.outbox is not None,
        )
        self.children: list[Child] = []
        self._rings: list[FrameRing | ResultRing] = []
        self.board: StatusBoard | None = None
        self.supervision = Supervision(self.children, Limits.of(self.config))

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.supervision.request(signum)

    def run(self, logs: LogSink) -> int:
        """Supervise the site until it is stopped or can run no more; the exit code
        (pipeline/lifecycle.py: ExitCode)."""
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        own_terminal = self.options.terminal is None
        terminal = self.options.terminal or Terminal()
        if own_terminal:
            terminal.start()
        outbox = self._open_outbox()
        try:
            self._create_segments()
            self._start_children(logs)
            assert self.board is not None
            view = StatusView(
                self.config,
                self.board,
                [self.children[INFERENCE_ROW].tag, *(c.tag for c in self._cameras())],
                terminal,
                self.options.dashboard,
                services=[(c.tag, c.spec.row) for c in self._role(ChildRole.SERVICE)],
            )
            self.supervision.view = view
            with view:
                code = self.supervision.run(self.options.duration)
        finally:
            self._kill_leftovers()
            self._release_segments()
            if outbox is not None:
                self.supervision.events = None
                outbox.close()
            if own_terminal:
                terminal.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return int(code)

    def _open_outbox(self) -> Outbox | None:
        """The outbox the supervisor's own events (process.fatal) go to, when the site has
        sinks. Preflight opened it already; should it fail now, the site runs without them."""
        if self.plan.outbox is None:
            return None
        try:
            outbox = Outbox(self.plan.outbox, self.config.events.outbox)
        except OutboxError as error:
            logger.error("process.fatal events will not be stored: %s", error)
            return None
        self.supervision.events = EventEmitter(outbox, self.config.site, camera=None)
        return outbox

    def _role(self, role: ChildRole) -> list[Child]:
        return [child for child in self.children if child.spec.role is role]

    def _cameras(self) -> list[Child]:
        return self._role(ChildRole.CAMERA)

    def _create_segments(self) -> None:
        remove_stale_segments(self.config.site)  # logs each segment it removes
        # The resource tracker (a helper process that spawn starts once) must outlive a
        # closed terminal like the children: start it with SIGHUP and SIGINT blocked.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISOR_SIGNALS)
        try:
            resource_tracker.ensure_running()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        layout = self.layout
        total, free = layout.nbytes(), shm_free_bytes()
        if total > free:
            # Refuse now with the site's whole need, rather than part-way through creation.
            raise ShmSpaceError(f"site {self.config.site} ({layout.cameras} cameras)", total, free)
        self.board, self._rings = layout.create()
        logger.info(
            "Shared memory ready: %d segments (%s), %.1f MB of %.0f MB free",
            1 + len(self._rings),
            ", ".join(view.describe() for view in layout.views),
            total / 1e6,
            free / 1e6,
        )

    def _release_segments(self) -> None:
        for child in self.children:
            child.detach_row()  # views into the board must go before it is unmapped
        for segment in [*self._rings, self.board]:
            if segment is None:
                continue
            try:
                segment.close()
                segment.unlink()
            except (OSError, BufferError):
                logger.exception("Could not remove shared memory %s", segment.name)
        self._rings.clear()
        self.board = None

    def _kill_leftovers(self) -> None:
        """After an error in the supervisor itself: no child outlives it unsupervised."""
        for child in self.children:
            if child.alive:
                logger.warning("%s: still running at exit; killing it", child.tag)
                child.kill()
                if child.process is not None:
                    child.process.join(2)

    def _delivery_spec(self, outbox: Path) -> ChildSpec:
        """The event delivery process: drains the outbox to the sinks. A service: the site
        runs on without it (events wait in the outbox), and it stops after the cameras, so it
        delivers what they wrote last."""
        events = self.config.events
        task = DeliveryTask(
            site=self.config.site,
            events=events,
            outbox_path=outbox,
            directory=outbox.parent,
            board=self.layout.segments.board(),
            board_rows=self.layout.board_rows,
            board_row=self.layout.delivery_row,
        )
        secrets = tuple(value for name in events.variables() if (value := os.environ.get(name, "")))
        return ChildSpec(
            EVENTS_TAG,
            delivery_main,
            task,
            row=self.layout.delivery_row,
            role=ChildRole.SERVICE,
            secrets=secrets,
        )

    def _start_children(self, logs: LogSink) -> None:
        assert self.board is not None
        config, plan = self.config, self.plan
        specs = [
            ChildSpec(
                INFERENCE_TAG,
                inference_main,
                InferenceTask(config, self.layout, plan.models, plan.config_path),
                row=INFERENCE_ROW,
                role=ChildRole.INFERENCE,
            )
        ]
        for index, camera in enumerate(config.cameras):
            task = CameraTask(
                site=config,
                camera=camera,
                camera_index=index,
                layout=self.layout,
                class_names=plan.models.class_names,
                model_names=plan.models.model_names,
                roles=plan.roles,
                zones=plan.zones[index],
                run_dir=self.options.run_dir,
                outbox=plan.outbox,
            )
            source = camera.source
            template = source.url if isinstance(source, RtspSource) else ""
            template = source.pipeline if isinstance(source, GStreamerSource) else template
            specs.append(
                ChildSpec(
                    camera.id,
                    camera_main,
                    task,
                    row=self.layout.camera_row(index),
                    role=ChildRole.CAMERA,
                    secrets=secret_values(template, os.environ),
                )
            )
        if plan.outbox is not None:
            specs.append(self._delivery_spec(plan.outbox))
        now = time.monotonic()
        timing = Timing(
            config.supervisor_startsecs,
            config.supervisor_healthy_period,
            config.supervisor_fatal_retry,
        )
        for spec in specs:
            policy = RestartPolicy(
                config.supervisor_max_restarts,
                config.supervisor_restart_window,
                first_delay=config.supervisor_backoff_initial,
                max_delay=config.supervisor_backoff_max,
            )
            child = Child(spec, self.board.row(spec.row), policy, timing, self._context, logs)
            child.start(now)
            self.children.append(child)
        logger.info(
            "Started inference and %d camera processes (heartbeat timeout %.0fs, max %d restarts in %.0fs)",
            len(config.cameras),
            config.supervisor_heartbeat_timeout,
            config.supervisor_max_restarts,
            config.supervisor_restart_window,
        )
