"""The supervisor's loop, in the manner of gunicorn's arbiter:

    handle signals -> reap exited children -> check heartbeats -> restart what is due

Signal handlers only record the signal. The first SIGINT/SIGTERM starts a clean stop (cameras
stop producing and drain their in-flight results, recordings are finalized, then inference
stops); a second SIGINT forces (SIGKILL). Shared memory is unlinked on every way out.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from pipeline.camera.process import CameraTask, camera_main
from pipeline.infer.process import InferenceTask, inference_main
from pipeline.lifecycle import ExitCode
from pipeline.logs import INFERENCE_TAG
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
from pipeline.shm.states import ProcessState
from supervisor.children import Child, ChildSpec
from supervisor.dashboard import StatusView
from supervisor.logsink import LogSink
from supervisor.policy import RestartPolicy
from supervisor.preflight import SitePlan

logger = logging.getLogger(__name__)

TICK = 0.1  # seconds per supervisor loop iteration
KILL_GRACE = 5.0  # seconds a child has to exit after SIGTERM (beyond its own drain time)


@dataclass(frozen=True)
class RunOptions:
    run_dir: Path
    log_file: Path
    duration: float | None  # seconds, None: until a signal
    dashboard: bool  # rich live view (only when stdout is a terminal)


class Supervisor:
    def __init__(self, plan: SitePlan, options: RunOptions) -> None:
        self.plan = plan
        self.config = plan.config
        self.options = options
        self._signals: list[int] = []
        self._context = multiprocessing.get_context("spawn")
        self.layout = SiteLayout(
            segments=SegmentNames(run_prefix(self.config.site)),
            cameras=len(self.config.cameras),
            ring_slots=self.config.transport.ring_slots,
            views=plan.models.views,
            max_detections=plan.models.max_detections,
            models=len(plan.models.models),
        )
        self.children: list[Child] = []
        self._rings: list[FrameRing | ResultRing] = []
        self.board: StatusBoard | None = None
        self.exit_code = ExitCode.OK

    # -- signals --------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)

    def _install_signals(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _stop_requested(self) -> bool:
        return bool(self._signals)

    def _forced(self) -> bool:
        return self._signals.count(signal.SIGINT) >= 2

    # -- lifecycle ------------------------------------------------------------------------

    def run(self, logs: LogSink) -> int:
        self._install_signals()
        try:
            self._create_segments()
            self._start_children(logs)
            assert self.board is not None
            tags = [child.tag for child in self.children]
            view = StatusView(self.config, self.board, tags, self.options.dashboard)
            with view:
                self._loop(view)
                self._shutdown(view)
        finally:
            self._release_segments()
        return int(self.exit_code)

    def _create_segments(self) -> None:
        for name in remove_stale_segments(self.config.site):
            logger.warning("Removed shared memory left by a killed run: %s", name)
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

    def _start_children(self, logs: LogSink) -> None:
        assert self.board is not None
        config, plan = self.config, self.plan
        specs = [
            ChildSpec(
                INFERENCE_TAG, inference_main, InferenceTask(config, self.layout, plan.models)
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
            specs.append(ChildSpec(camera.id, camera_main, task))
        now = time.monotonic()
        for row, spec in enumerate(specs):
            policy = RestartPolicy(config.supervisor_max_restarts, config.supervisor_restart_window)
            child = Child(spec, self.board.row(row), policy, self._context, logs)
            child.start(now)
            self.children.append(child)
        logger.info(
            "Started inference and %d camera processes (heartbeat timeout %.0fs, max %d restarts in %.0fs)",
            len(config.cameras),
            config.supervisor_heartbeat_timeout,
            config.supervisor_max_restarts,
            config.supervisor_restart_window,
        )

    def _loop(self, view: StatusView) -> None:
        started = time.monotonic()
        duration = self.options.duration
        while not self._stop_requested():
            now = time.monotonic()
            self._reap(now)
            self._check_heartbeats(now)
            for child in self.children:
                if child.restart_due(now):
                    child.restart(now)
            if self.children[INFERENCE_ROW].state is ProcessState.FATAL:
                logger.critical("Inference cannot run; stopping the site")
                self.exit_code = (
                    ExitCode.MODEL
                    if self.children[INFERENCE_ROW].exit_code == ExitCode.MODEL
                    else ExitCode.CRASHED
                )
                return
            cameras = self.children[INFERENCE_ROW + 1 :]
            if all(child.state in (ProcessState.STOPPED, ProcessState.FATAL) for child in cameras):
                logger.info("No camera is running any more; stopping the site")
                return
            if duration is not None and now - started >= duration:
                logger.info("Duration of %.0fs reached; stopping", duration)
                return
            view.refresh(now)
            time.sleep(TICK)
        logger.info("Stop requested (signal %s)", signal.Signals(self._signals[0]).name)

    def _reap(self, now: float) -> None:
        for child in self.children:
            code = child.reap()
            if code is None:
                continue
            if child.state is not ProcessState.STOPPING:
                how = (
                    f"was killed by {signal.Signals(-code).name}"
                    if code < 0
                    else f"exited with code {code}"
                )
                level = logging.INFO if code == 0 else logging.ERROR
                logger.log(level, "%s: process %s", child.tag, how)
            child.after_exit(code, now)

    def _check_heartbeats(self, now: float) -> None:
        """A RUNNING child must beat within the heartbeat timeout; a STARTING one (loading its
        models: a TensorRT engine can take minutes) within the longer startup allowance."""
        beat = self.config.supervisor_heartbeat_timeout
        startup = max(beat, self.config.supervisor_startup_timeout)
        for child in self.children:
            if child.state not in (ProcessState.STARTING, ProcessState.RUNNING):
                continue
            timeout = startup if child.state is ProcessState.STARTING else beat
            if child.note_heartbeat(now, timeout) and child.alive:
                if child.state is ProcessState.STARTING:
                    logger.warning("%s: did not finish starting within %.0fs", child.tag, timeout)
                else:
                    logger.warning("%s: Heartbeat timeout (%.0fs)", child.tag, timeout)
                child.kill()  # reaped and restarted by policy on a following tick

    def _shutdown(self, view: StatusView) -> None:
        """Cameras first (they drain in-flight results through a still-running inference),
        then inference; SIGKILL whatever outlives its grace period or a second SIGINT."""
        cameras = self.children[INFERENCE_ROW + 1 :]
        drain = self.config.transport.result_timeout + KILL_GRACE
        self._stop_and_wait(cameras, drain, view)
        self._stop_and_wait(self.children[: INFERENCE_ROW + 1], KILL_GRACE, view)

    def _stop_and_wait(self, children: list[Child], grace: float, view: StatusView) -> None:
        for child in children:
            child.stop()
        deadline = time.monotonic() + grace
        while any(child.alive for child in children):
            now = time.monotonic()
            if now >= deadline or self._forced():
                for child in children:
                    if child.alive:
                        logger.warning("%s: did not stop in time; killing it", child.tag)
                        child.kill()
                break
            view.refresh(now)
            time.sleep(TICK / 2)
        for child in children:
            for _ in range(50):  # a SIGKILLed process is gone within milliseconds
                if child.reap() is not None or child.process is None:
                    break
                time.sleep(0.01)
            if child.state is ProcessState.STOPPING:
                child.after_exit(child.exit_code or 0, time.monotonic())
