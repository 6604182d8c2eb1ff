"""The capture thread: keeps a camera's newest frame ready for the camera loop, whatever the
camera does (freezes, drops off the network, rejects the password, changes resolution).

    capture = Capture(camera.source, camera.id)
    capture.start()
    while running:
        frame = capture.poll()          # newest frame or None; never blocks
        row.stream_state = capture.state
    capture.stop()

States (StreamState): CONNECTING until the first frame arrives (retrying with backoff),
STREAMING while frames arrive, STALLED once no frame has arrived for `stall_timeout` seconds,
RECONNECTING from a stall or a lost connection until frames flow again, AUTH_FAILED while
the server rejects the credentials (retried at the slowest interval), ENDED when a file
ends, OFFLINE when the source can never work (the reason is in `failure`).

A stall is judged by when frames *arrive*, not by what read() returns: a frozen RTSP server
makes OpenCV return buffered frames, one per read timeout, before read() fails at all
(shared/FACTS.md). A read that waited out the whole read timeout delivers no evidence of life.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pipeline.camera.mailbox import NewestFrame
from pipeline.camera.pacing import Pacer
from pipeline.camera.reconnect import ReconnectPolicy
from pipeline.camera.sources import (
    AuthenticationFailed,
    CapturedFrame,
    FrameSource,
    SourceError,
    StreamUnavailable,
    check_source,
    describe_source,
    open_source,
)
from pipeline.camera.timeline import SourceTimeline
from pipeline.config.sources import FileSource, LiveSource, RtspSource, SourceConfig
from pipeline.shm.states import StreamState

logger = logging.getLogger(__name__)

LOST_AFTER_FAILED_READS = 8  # consecutive failed reads of a live source: the connection is gone
DECODE_REPORT_INTERVAL = 60.0  # seconds between warnings about undecodable frames
HISTORY_LENGTH = 256
DEVICE_READ_TIMEOUT = 10.0  # how long OpenCV's V4L2 backend waits for a frame (select())


@dataclass(frozen=True)
class Transition:
    at: float  # time.monotonic()
    state: StreamState
    detail: str


class Capture:
    """Runs one camera's source in a background thread. See the module docstring.

    Attributes read by the camera loop (each written by the capture thread only):
    `state`, `auth_failed`, `last_error` (credentials masked), `failure` (SourceError that ends
    the camera), `crashed` (an unexpected exception in the thread), `fps`, and the counters
    `frames_read`, `overwritten`, `reconnects`, `open_failures`, `decode_errors`,
    `skipped_frames`.
    """

    def __init__(
        self,
        config: SourceConfig,
        camera_id: str,
        *,
        environ: Mapping[str, str] | None = None,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        """Raises SourceError at once for what no retry can fix (see `check_source`)."""
        self.config = config
        self.camera_id = camera_id
        self._environ = dict(os.environ if environ is None else environ)
        check_source(config, camera_id, self._environ)
        self.name = describe_source(config)
        live = config if isinstance(config, LiveSource) else None
        self._stall_timeout = live.stall_timeout if live else None
        self._policy = policy or ReconnectPolicy(
            live.reconnect_initial if live else 1.0, live.reconnect_max if live else 60.0
        )
        # A read that waits this long timed out: it is no sign of life (see module docstring).
        self._slow_read = config.read_timeout * 0.9 if isinstance(config, RtspSource) else None
        # Non-realtime files: every frame analysed, the thread waits for the loop.
        self.lossless = isinstance(config, FileSource) and not config.realtime
        self._mailbox = NewestFrame()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{camera_id}", daemon=True)
        self._timeline = SourceTimeline()
        self._state = StreamState.OFFLINE
        self.history: deque[Transition] = deque(maxlen=HISTORY_LENGTH)
        self.attempt_times: deque[float] = deque(maxlen=HISTORY_LENGTH)  # open attempts
        self.auth_failed = False
        self.last_error: str | None = None
        self.failure: SourceError | None = None
        self.crashed: BaseException | None = None
        self.fps: float | None = None
        self.frame_size: tuple[int, int] | None = None  # (width, height) of the last frame
        self.frames_read = 0
        self.reconnects = 0
        self.open_failures = 0
        self._errors_closed = (0, 0)  # (decode errors, skipped frames) of closed sessions
        self._source: FrameSource | None = None
        self._failed_reads = 0  # live reads in a row that gave no frame
        self._live_decode_errors = 0
        self._last_arrival = 0.0
        self._down_since = time.monotonic()  # start, or when the stream was last lost
        self._failures_at_loss = 0
        self._reported_errors = 0
        self._next_error_report = 0.0

    # -- what the camera loop uses ------------------------------------------------------------

    def start(self) -> None:
        self._set_state(StreamState.CONNECTING, f"Connecting to {self.name}")
        self._thread.start()

    def poll(self) -> CapturedFrame | None:
        """The newest frame not yet taken, or None. Never blocks."""
        return self._mailbox.take()

    @property
    def state(self) -> StreamState:
        state = self._state
        if (
            state is StreamState.STREAMING
            and self._stall_timeout is not None
            and time.monotonic() - self._last_arrival > self._stall_timeout
        ):
            return StreamState.STALLED  # seen before the thread, blocked in read(), notices
        return state

    @property
    def overwritten(self) -> int:
        return self._mailbox.overwritten

    @property
    def decode_errors(self) -> int:
        source = self._source
        current = source.decode_errors if source is not None else 0
        return self._errors_closed[0] + current + self._live_decode_errors

    @property
    def skipped_frames(self) -> int:
        source = self._source
        return self._errors_closed[1] + (source.skipped_frames if source is not None else 0)

    @property
    def running(self) -> bool:
        """The capture thread is alive."""
        return self._thread.is_alive()

    @property
    def finished(self) -> bool:
        """The thread is done (file ended, source impossible, crash) and no frame is left."""
        return not self._thread.is_alive() and not self._mailbox.pending()

    def stop(self, timeout: float | None = None) -> None:
        """Stops the thread; waits at most `timeout` s (default: the longest a blocked open or
        read can take, plus a second). A thread still blocked after that (a GStreamer pipeline
        has no read timeout) is left behind as a daemon and logged."""
        self._stop.set()
        self._mailbox.close()
        if not self._thread.is_alive():
            return
        if timeout is None:
            timeout = 1.0
            if isinstance(self.config, RtspSource):
                timeout += max(self.config.open_timeout, self.config.read_timeout)
            elif isinstance(self.config, LiveSource):
                timeout += DEVICE_READ_TIMEOUT
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("Capture of %s did not stop within %.1f s", self.name, timeout)

    def __enter__(self) -> Capture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as error:
            logger.exception("Capture of %s crashed", self.name)
            self.crashed = error
            self._set_state(StreamState.OFFLINE, f"crashed: {error!r}")

    def _serve(self) -> None:
        ever_streamed = False
        while not self._stop.is_set():
            source = self._connect(reconnecting=ever_streamed)
            if source is None:
                return
            if ever_streamed:
                self.reconnects += 1
            ever_streamed = True
            try:
                ended = self._stream(source)
            finally:
                self._close(source)
            if ended or self._stop.is_set():
                return
            self._policy.lost()
            self._down_since, self._failures_at_loss = time.monotonic(), self.open_failures
            self._stop.wait(self._policy.next_delay())

    def _connect(self, reconnecting: bool) -> FrameSource | None:
        """Opens the source, retrying with backoff; None when stopping or impossible."""
        while not self._stop.is_set():
            self.attempt_times.append(time.monotonic())
            try:
                source = open_source(self.config, self.camera_id, self._environ)
            except AuthenticationFailed as error:
                self._open_failed(error, authentication=True)
                self._stop.wait(self._policy.slow_delay())
            except StreamUnavailable as error:
                self._open_failed(error, authentication=False)
                self._stop.wait(self._policy.next_delay())
            except SourceError as error:
                self.failure = error
                self.last_error = str(error)
                logger.error("%s; the camera stays offline", error)
                self._set_state(StreamState.OFFLINE, str(error))
                return None
            else:
                self._opened(source, reconnecting)
                return source
        return None

    def _open_failed(self, error: StreamUnavailable, authentication: bool) -> None:
        self.open_failures += 1
        message = str(error)
        if authentication and not self.auth_failed:
            logger.error(
                "Authentication failed: %s; check the user and password of this camera "
                "(retrying every %.0f s)",
                message,
                self._policy.maximum,
            )
        elif not authentication and message != self.last_error:
            logger.warning("Cannot connect: %s; retrying with backoff", message)
        else:
            logger.debug("Still failing: %s", message)
        self.auth_failed = authentication
        self.last_error = message
        if authentication and self._state is not StreamState.AUTH_FAILED:
            self._set_state(StreamState.AUTH_FAILED, message)
        elif not authentication and self._state is StreamState.AUTH_FAILED:
            # Credentials no longer the problem (the camera went away meanwhile).
            self._set_state(self._retrying_state(), message)

    def _retrying_state(self) -> StreamState:
        return StreamState.RECONNECTING if self.frames_read else StreamState.CONNECTING

    def _opened(self, source: FrameSource, reconnecting: bool) -> None:
        if self._state is StreamState.AUTH_FAILED:
            self._set_state(self._retrying_state(), "credentials accepted")
        self._source = source
        self.fps = source.fps
        self._failed_reads = 0
        self._last_arrival = time.monotonic()
        self._timeline.new_session()
        failed = self.open_failures - self._failures_at_loss
        if failed or reconnecting:
            logger.info(
                "Connected to %s after %.1f s down (%d failed attempt%s)",
                self.name,
                self._last_arrival - self._down_since,
                failed,
                "" if failed == 1 else "s",
            )
        else:
            logger.info("Connected to %s", self.name)
        self.auth_failed = False
        self.last_error = None
        self._policy.connected()

    def _close(self, source: FrameSource) -> None:
        self._errors_closed = (
            self._errors_closed[0] + source.decode_errors,
            self._errors_closed[1] + source.skipped_frames,
        )
        self._source = None
        try:
            source.close()
        except Exception:
            logger.exception("Could not close %s", self.name)

    def _stream(self, source: FrameSource) -> bool:
        """Reads until the source ends (True), is lost or stalls, or stop (False)."""
        pacer = Pacer(source.fps, time.monotonic()) if source.realtime and not source.live else None
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                frame = source.read()
            except SourceError as error:
                self.failure = error
                self.last_error = str(error)
                logger.error("%s; the camera stays offline", error)
                self._set_state(StreamState.OFFLINE, str(error))
                return True
            now = time.monotonic()
            if frame is None and not source.live:
                logger.info("Source ended after %d frames", self.frames_read)
                self._set_state(StreamState.ENDED, "end of file")
                return True
            if frame is not None:
                if self._slow_read is None or now - started < self._slow_read:
                    self._arrived(now, frame)
                self._deliver(source, frame, pacer)
            elif self._read_failed():
                return False
            if self._stalled(now):
                return False
            self._report_decode_errors(now)
        return False

    def _arrived(self, now: float, frame: CapturedFrame) -> None:
        self._last_arrival = now
        if self._failed_reads:
            self._live_decode_errors += self._failed_reads
            self._failed_reads = 0
        if self._state is not StreamState.STREAMING:
            height, width = frame.image.shape[:2]
            self._set_state(StreamState.STREAMING, f"frames arrive ({width}x{height})")

    def _read_failed(self) -> bool:
        """Counts a live read that gave no frame; True when the connection is taken as lost."""
        self._failed_reads += 1
        if self._failed_reads < LOST_AFTER_FAILED_READS:
            return False
        logger.warning("Stream lost (%d reads failed); reconnecting", self._failed_reads)
        self._failed_reads = 0
        self._set_state(StreamState.RECONNECTING, "read failed")
        return True

    def _stalled(self, now: float) -> bool:
        if self._stall_timeout is None or now - self._last_arrival <= self._stall_timeout:
            return False
        silent = now - self._last_arrival
        if self._state is not StreamState.STALLED:
            self._set_state(StreamState.STALLED, f"no frame for {silent:.1f}s")
        logger.warning("Stream stalled (no frame for %.1fs); reconnecting", silent)
        self._failed_reads = 0
        self._set_state(StreamState.RECONNECTING, "stalled")
        return True

    def _deliver(self, source: FrameSource, frame: CapturedFrame, pacer: Pacer | None) -> None:
        self.frames_read += 1
        height, width = frame.image.shape[:2]
        if self.frame_size is not None and self.frame_size != (width, height):
            logger.info("Resolution changed from %dx%d to %dx%d", *self.frame_size, width, height)
        self.frame_size = (width, height)
        if source.live:
            pts = self._timeline.stamp(frame.pts, frame.captured_at, 1.0 / source.fps)
            frame = replace(frame, index=self.frames_read - 1, pts=pts)
        if pacer is not None:
            self._stop.wait(max(0.0, pacer.next_due - time.monotonic()))
            now = time.monotonic()
            pacer.advance(now)
            frame = replace(frame, captured_at=now)  # a paced frame "arrives" when due
        if self.lossless:
            self._mailbox.put_when_taken(frame)
        else:
            self._mailbox.put_latest(frame)

    def _report_decode_errors(self, now: float) -> None:
        errors = self.decode_errors + self.skipped_frames
        if errors == self._reported_errors or now < self._next_error_report:
            return
        logger.warning(
            "%d frames could not be decoded and %d were missing so far (corrupt or lost data)",
            self.decode_errors,
            self.skipped_frames,
        )
        self._reported_errors = errors
        self._next_error_report = now + DECODE_REPORT_INTERVAL

    def _set_state(self, state: StreamState, detail: str) -> None:
        self._state = state
        self.history.append(Transition(time.monotonic(), state, detail))
