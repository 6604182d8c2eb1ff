"""The camera process's main loop.

capture thread -> newest frame -> (decimate) -> letterbox straight into a ring slot -> publish
results  -> match the held full-resolution frame by seq -> draw -> record -> detections line

The capture thread (pipeline/camera/capture.py) connects, reconnects and paces the source; this
loop never blocks on it, writes the heartbeat, and copies the stream's state to the board.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import cv2

from pipeline.analytics import ClassRoles, ZoneSpec
from pipeline.camera.capture import Capture
from pipeline.camera.compliance_feed import ComplianceFeed
from pipeline.camera.draw import annotate
from pipeline.camera.evidence import Evidence, open_video_outputs
from pipeline.camera.inflight import InFlight
from pipeline.camera.outputs import DetectionsLog, JsonLines
from pipeline.camera.pacing import Decimator
from pipeline.camera.recording import AnnotatedStream
from pipeline.camera.ring_writer import RingWriter
from pipeline.camera.sources import CapturedFrame, SourceError
from pipeline.config.models import SiteConfig
from pipeline.config.sources import CameraConfig
from pipeline.events.emitter import EventEmitter
from pipeline.events.outbox import Outbox
from pipeline.events.schema import EventType
from pipeline.lifecycle import ExitCode, StopFlag, install_stop_signals
from pipeline.logs import log_to_supervisor
from pipeline.metering import WindowMeter
from pipeline.shm.layout import SiteLayout
from pipeline.shm.ring import Result
from pipeline.shm.states import StreamState

logger = logging.getLogger(__name__)

LOST = (StreamState.STALLED, StreamState.RECONNECTING, StreamState.OFFLINE)
IDLE_SLEEP = 0.002
VIDEO_CLOSE_TIMEOUT = 5.0  # seconds to encode what is queued and finalize the segment  # seconds between polls when neither a frame nor a result is due
# Letterboxing and drawing run on the loop's own thread: with a pool per camera process, N
# cameras would start N pools on the same cores. (FFmpeg's decoding threads are separate.)
OPENCV_THREADS = 1


@dataclass(frozen=True)
class CameraTask:
    """Everything a camera process needs, picklable for the spawn start method."""

    site: SiteConfig
    camera: CameraConfig
    camera_index: int  # position in site.cameras
    layout: SiteLayout  # segment names, ring geometry per view, board rows
    class_names: tuple[str, ...]  # site-wide class ids -> names
    model_names: tuple[str, ...]  # model index -> name
    roles: ClassRoles  # what each class proves (person, helmet, no helmet, ...)
    zones: tuple[ZoneSpec, ...]  # this camera's zones and what each requires
    run_dir: Path
    outbox: Path | None = None  # the events outbox, when the site has sinks


def camera_main(task: CameraTask, log_pipe: Connection) -> None:
    """Process entry point (spawn target)."""
    log_to_supervisor(log_pipe)
    stop = install_stop_signals()
    cv2.setNumThreads(OPENCV_THREADS)
    try:
        code = CameraWorker(task, stop).run()
    except Exception:
        logger.exception("Camera Worker crashed")
        code = ExitCode.CRASHED
    sys.exit(int(code))


class CameraWorker:
    def __init__(self, task: CameraTask, stop: StopFlag) -> None:
        self.task = task
        self.stop = stop
        site, camera, layout = task.site, task.camera, task.layout
        self.board = layout.attach_board()
        self.row = self.board.row(layout.camera_row(task.camera_index))
        self.writer = RingWriter(layout.attach_frame_rings(task.camera_index), layout.views)
        self.results = layout.attach_results(task.camera_index)
        self.in_flight = InFlight(site.transport.max_in_flight, site.transport.result_timeout)
        self.decimator = Decimator(camera.target_fps)
        self.captured = WindowMeter()
        self.done = WindowMeter()
        self.video: AnnotatedStream | None = None  # recording and the evidence pre-roll
        self.evidence: Evidence | None = None
        self.detections_log: DetectionsLog | None = None
        self.events_log: JsonLines | None = None
        self.compliance: ComplianceFeed | None = None
        self.emitter = (  # opened here, after spawn: SQLite connections do not cross a fork
            EventEmitter(Outbox(task.outbox, site.events.outbox), site.site, camera.id)
            if task.outbox is not None
            else None
        )
        self.offline_since: float | None = None  # the stream dropped (for camera events)
        self.done_count = 0
        self.overwritten = 0  # capture.overwritten already counted on the board
        self.outputs_opened = False

    def run(self) -> ExitCode:
        camera = self.task.camera
        logger.info("Camera Worker started (pid %d)", os.getpid())
        self.row.stream_state = StreamState.CONNECTING
        try:
            capture = Capture(camera.source, camera.id)
        except SourceError as error:
            logger.error("%s; the camera stays offline", error)
            self.row.stream_state = StreamState.OFFLINE
            return ExitCode.SOURCE
        capture.start()
        try:
            code = self._loop(capture)
            self._drain()
        finally:
            capture.stop()
            self._close_outputs()
        logger.info("Camera Worker stopped after %d processed frames", self.done_count)
        return code

    def _loop(self, capture: Capture) -> ExitCode:
        while not self.stop.requested:
            now = time.monotonic()
            self.row.heartbeat = now
            handled = self._settle(now)
            self._copy_stream_status(capture)
            # Files read as fast as inference takes them: poll only when a frame can be sent.
            frame = None if capture.lossless and self.in_flight.full else capture.poll()
            if frame is not None:
                self._on_frame(frame, capture)
            elif capture.finished:
                return self._finish(capture)
            elif not handled:
                time.sleep(IDLE_SLEEP)
            self._publish_rates(now)
        return ExitCode.OK

    def _finish(self, capture: Capture) -> ExitCode:
        """The capture thread is done: the file ended, the source can never work, or a bug."""
        self._copy_stream_status(capture)
        if capture.crashed is not None:
            raise RuntimeError(f"capture of {capture.name} crashed") from capture.crashed
        if capture.failure is not None:
            return ExitCode.SOURCE
        return ExitCode.OK  # the file ended (the capture logged it)

    def _copy_stream_status(self, capture: Capture) -> None:
        if capture.state is not self.row.stream_state:
            self._on_stream_change(self.row.stream_state, capture.state)
        self.row.stream_state = capture.state
        self.row.reconnects = capture.reconnects
        self.row.decode_errors = capture.decode_errors
        self.row.skipped_frames = capture.skipped_frames
        overwritten = capture.overwritten
        if overwritten != self.overwritten:
            # Decoded, then replaced by a newer frame before this loop took it.
            self.row.frames_in += overwritten - self.overwritten
            self.row.dropped_source += overwritten - self.overwritten
            self.overwritten = overwritten

    def _on_stream_change(self, was: StreamState, now: StreamState) -> None:
        """camera.offline when a streaming camera loses its stream, camera.online when it
        streams again (to the site's sinks)."""
        if self.emitter is None:
            return
        if was is StreamState.STREAMING and now in LOST:
            self.offline_since = time.monotonic()
            self.emitter.emit(EventType.CAMERA_OFFLINE, {"reason": f"stream {now.name.lower()}"})
        elif now is StreamState.STREAMING and self.offline_since is not None:
            offline_s = time.monotonic() - self.offline_since
            self.offline_since = None
            self.emitter.emit(EventType.CAMERA_ONLINE, {"offline_s": round(offline_s, 1)})

    def _on_frame(self, frame: CapturedFrame, capture: Capture) -> None:
        if not self.outputs_opened:
            self._open_outputs(capture.fps)
        self.row.frames_in += 1
        self.captured.add()
        if not self.decimator.keep(frame.pts):
            return
        if self.in_flight.full:
            # Inference is behind: drop here, at the source, so latency stays bounded.
            self.row.dropped_source += 1
            return
        seq = self.writer.send(frame)
        self.in_flight.add(seq, frame, time.monotonic())
        self.row.frames_sent += 1

    def _settle(self, now: float) -> bool:
        if not len(self.in_flight):
            return False
        settled = self.in_flight.settle(self.results.read, now)
        if settled.given_up:
            self.row.dropped_stale += settled.given_up
        for frame, seq, result in settled.answered:
            assert isinstance(result, Result)
            self._on_result(frame, seq, result)
        return bool(settled.answered)

    def _on_result(self, frame: CapturedFrame, seq: int, result: Result) -> None:
        latency_ms = (time.monotonic() - frame.captured_at) * 1000
        assert self.compliance is not None  # opened with the outputs, at the first frame
        analysis = self.compliance.update(frame, result.detections)
        detections = analysis.detections  # persons now carry their track ids
        refs: dict[str, dict[str, str]] = {}
        if self.video is not None:
            task = self.task
            annotated = annotate(frame.image, analysis, task.roles, task.class_names)
            self.video.write(annotated, analysis.t)
            if self.evidence is not None:
                refs = self.evidence.on_frame(analysis, annotated, analysis.t)
        self.compliance.emit(analysis.events, refs)
        if (
            self.detections_log is not None
            and self.done_count % self.task.site.detections_log.every_n_frames == 0
        ):
            self.detections_log.write(seq, frame.index, frame.pts, latency_ms, detections)
        self.done_count += 1
        self.done.add(latency_ms)
        self.row.frames_done += 1
        self.row.detections_last = len(detections)
        self.row.detections_total += len(detections)
        self.row.infer_ms = result.infer_ms

    def _publish_rates(self, now: float) -> None:
        if self.captured.roll(now):
            self.row.fps_in = self.captured.rate
        if self.done.roll(now):
            self.row.fps_done = self.done.rate
            self.row.latency_ms = self.done.mean
            self.row.updated = now

    def _drain(self) -> None:
        """Stop producing; wait (bounded) for answers to frames already sent, so they are drawn
        and recorded."""
        deadline = time.monotonic() + self.task.site.transport.result_timeout
        while len(self.in_flight) and time.monotonic() < deadline:
            now = time.monotonic()
            self.row.heartbeat = now
            if not self._settle(now):
                time.sleep(IDLE_SLEEP)
        given_up = self.in_flight.clear()
        if given_up:
            self.row.dropped_stale += given_up
        if self.compliance is not None:
            events = self.compliance.close()
            ended = self.evidence.ended(events) if self.evidence is not None else {}
            self.compliance.emit(events, ended)

    def _open_outputs(self, source_fps: float | None) -> None:
        """At the first frame, once the source's rate is known."""
        self.outputs_opened = True
        task = self.task
        site, camera = task.site, task.camera
        fps = camera.target_fps or source_fps or 25.0
        self.row.fps_target = fps
        self.events_log = JsonLines(task.run_dir / "events.jsonl")
        if task.outbox is not None:
            self.emitter = EventEmitter(
                Outbox(task.outbox, site.events.outbox), site.site, camera.id
            )
        view = task.layout.views[0]
        self.compliance = ComplianceFeed(
            site,
            camera,
            task.zones,
            task.roles,
            task.run_dir.name,
            fps,
            source_fps or fps,
            (view.width, view.height),
            self.events_log,
            self.row,
            self.emitter,
        )
        self.video, self.evidence = open_video_outputs(
            site.recording, site.evidence, task.run_dir, task.run_dir.parent, camera.id, fps
        )
        if site.detections_log.enabled:
            self.detections_log = DetectionsLog(
                self.task.run_dir / "detections.jsonl",
                camera.id,
                self.task.class_names,
                self.task.model_names,
            )

    def _close_outputs(self) -> None:
        """Evidence first (its clips read the stream's packets), then the stream, whose
        segment is finalized within VIDEO_CLOSE_TIMEOUT (below the supervisor's grace)."""
        if self.evidence is not None:
            self.evidence.close()
        if self.video is not None:
            if self.video.close(timeout=VIDEO_CLOSE_TIMEOUT) and self.video.dropped:
                logger.warning(
                    "%d of %d annotated frames were not recorded (the encoder was behind)",
                    self.video.dropped,
                    self.video.frames + self.video.dropped,
                )
        outbox = self.emitter.outbox if self.emitter is not None else None
        for output in (self.detections_log, self.events_log, outbox):
            if output is None:
                continue
            try:
                output.close()
            except OSError:
                logger.exception("Could not close %s", output)
