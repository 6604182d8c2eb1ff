"""The annotated stream of one camera: frames -> H.264 packets -> segment files (and clips).

    stream = AnnotatedStream(config.encoder, fps, config.queue_frames, "CAM063")
    stream.add_consumer(SegmentFiles(run_dir / "recordings" / "CAM063", config, site_root))
    stream.start()
    stream.write(annotated_frame, t)     # every frame; never blocks: a full queue drops it
    stream.close(timeout=5.0)            # encodes what is queued, closes the segment

A worker thread converts and encodes (libx264 through PyAV; both release the GIL), so the
camera loop only hands over the frame. One encoder per frame size serves every consumer: the
segment files here and the evidence clips (evidence.py), which copy packets, never re-encode.

Segments are MP4 written as fragments (one per keyframe, `keyframe_s` apart) and flushed to
the file as each fragment completes, so a SIGKILLed camera leaves a file that plays up to its
last fragment; a segment closed cleanly is an ordinary MP4 (`hybrid_fragmented`, FFmpeg 7.1+).
A new segment starts at the first keyframe after `segment_s`, and whenever the frame size
changes: the new size gets a new encoder and a new file, rather than frames scaled to the old
size (scaling would blur or distort the evidence, and one H.264 stream in MP4 has one size).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from pipeline.camera.h264 import MOVFLAGS, EncodedPacket, Mp4Writer, VideoEncoder
from pipeline.camera.retention import sweep
from pipeline.config.evidence import EncoderConfig, RecordingConfig

logger = logging.getLogger(__name__)


class PacketConsumer(Protocol):
    """Runs in the stream's worker thread."""

    def on_packets(self, packets: Sequence[EncodedPacket]) -> None: ...

    def on_close(self) -> None: ...


def open_segment_file(directory: Path, stamp: str) -> tuple[Path, int]:
    """Create `directory/<stamp>.mp4` (or `<stamp>.1.mp4`, ...: never an existing file, so a
    restarted camera keeps its previous life's segments) and lock it against retention.
    Returns the path and the locked descriptor (closing it releases the lock)."""
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(10_000):
        path = directory / (f"{stamp}.mp4" if number == 0 else f"{stamp}.{number}.mp4")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        return path, fd
    raise OSError(f"{directory}: no free segment name for {stamp}")


def utc_stamp(unix_time: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(unix_time))


class SegmentFiles:
    """Packets -> `directory/<UTC start>.mp4` segments; sweeps retention over `site_root`
    (the folder holding the site's run folders) whenever a segment opens."""

    def __init__(
        self, directory: Path, config: RecordingConfig, site_root: Path | None, fps: float
    ) -> None:
        self.directory = directory
        self.config = config
        self.site_root = site_root
        self.fps = fps
        self.segments: list[Path] = []  # every segment opened, in order
        self.write_errors = 0
        self._writer: Mp4Writer | None = None
        self._frames = 0  # written into the current segment
        self._lock_fd: int | None = None

    @property
    def path(self) -> Path | None:
        """The segment being written, if any."""
        return None if self._writer is None else self._writer.path

    def on_packets(self, packets: Sequence[EncodedPacket]) -> None:
        for packet in packets:
            if self._due(packet):
                self._close()
                if not packet.keyframe:
                    continue  # after a write error: wait for the next keyframe
                self._open(packet)
            assert self._writer is not None
            try:
                self._writer.write(packet)
                self._frames += 1
            except (OSError, av.FFmpegError) as error:
                self.write_errors += 1
                logger.error(
                    "Recording %s failed (%s); next segment at the next keyframe",
                    self._writer.path,
                    error,
                )
                self._close()

    def on_close(self) -> None:
        self._close()

    def _due(self, packet: EncodedPacket) -> bool:
        writer = self._writer
        if writer is None or packet.generation != writer.generation:
            return True
        return packet.keyframe and packet.t - writer.first_t >= self.config.segment_s

    def _open(self, first: EncodedPacket) -> None:
        if self.site_root is not None:
            try:
                sweep(self.site_root, self.config.retention, time.time())
            except OSError:
                logger.exception("Recording retention failed in %s", self.site_root)
        path, self._lock_fd = open_segment_file(self.directory, utc_stamp(time.time()))
        self._writer = Mp4Writer(path, first, self.fps, MOVFLAGS)
        self._frames = 0
        self.segments.append(path)
        logger.info("Recording segment %s (%dx%d)", path, *first.size)

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
                logger.info("Recording finalized: %s (%d frames)", writer.path, self._frames)
            except (OSError, av.FFmpegError):
                logger.exception(
                    "Could not finalize %s (it plays up to its last fragment)", writer.path
                )
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


_CLOSE = object()


class AnnotatedStream:
    """A worker thread per camera: frames -> one encoder per frame size -> consumers.

    `write` hands over the frame by reference (the caller must not draw on it afterwards) and
    never blocks: with `queue_frames` frames already waiting (the encoder is behind), the
    frame is dropped and counted in `dropped`, so the recording and the clips skip it rather
    than the camera loop waiting. `call(job)` runs `job` in the worker after the frames
    written before it (snapshots, clip requests); jobs are never dropped."""

    def __init__(self, config: EncoderConfig, fps: float, queue_frames: int, name: str) -> None:
        self.config = config
        self.fps = fps
        self.queue_frames = queue_frames
        self.name = name
        self.consumers: list[PacketConsumer] = []
        self.frames = 0  # frames encoded
        self.dropped = 0  # frames dropped because the queue was full (or at close)
        self.encode_s = 0.0  # worker thread CPU seconds spent converting and encoding
        self.encode_errors = 0
        self._inbox: deque[object] = deque()
        self._waiting = 0  # frames in the inbox
        self._ready = threading.Condition()
        self._deadline: float | None = None  # set by close(): frames left after it are dropped
        self._encoder: VideoEncoder | None = None
        self._generation = 0
        self._thread = threading.Thread(target=self._run, name=f"{name}-video", daemon=True)

    def add_consumer(self, consumer: PacketConsumer) -> None:
        if self._thread.is_alive():
            raise RuntimeError("consumers are added before start()")
        self.consumers.append(consumer)

    def start(self) -> None:
        self._thread.start()

    def write(self, frame: np.ndarray, t: float) -> bool:
        """Queue `frame` (BGR, original size) taken at `t` (camera timeline, seconds).
        False: dropped (queue full, closing, or nothing consumes packets)."""
        with self._ready:
            if not self.consumers or self._deadline is not None:
                return False
            if self._waiting >= self.queue_frames:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 100 == 0:
                    logger.warning(
                        "%s: the encoder is behind, %d frames dropped from the recording",
                        self.name,
                        self.dropped,
                    )
                return False
            self._inbox.append((frame, t))
            self._waiting += 1
            self._ready.notify()
        return True

    def call(self, job: Callable[[], object]) -> None:
        with self._ready:
            self._inbox.append(job)
            self._ready.notify()

    def close(self, timeout: float) -> bool:
        """Encode what is queued (frames still queued after `timeout` seconds are dropped),
        flush the encoder, close every consumer. False: the worker did not finish in time
        (the segment then plays up to its last fragment, as after a kill)."""
        if not self._thread.is_alive():
            return True
        with self._ready:
            self._deadline = time.monotonic() + timeout
            self._inbox.append(_CLOSE)
            self._ready.notify()
        self._thread.join(timeout + 1.0)
        if self._thread.is_alive():
            logger.error("%s: the recording was not finalized within %.1f s", self.name, timeout)
            return False
        return True

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._inbox:
                    self._ready.wait()
                item = self._inbox.popleft()
                if isinstance(item, tuple):
                    self._waiting -= 1
                late = self._deadline is not None and time.monotonic() > self._deadline
            if item is _CLOSE:
                self._finish()
                return
            if isinstance(item, tuple):
                if late:
                    self.dropped += 1  # write() no longer counts: close() has begun
                else:
                    self._deliver(self._encode(*item))
                continue
            assert callable(item)
            try:
                item()
            except Exception:
                logger.exception("%s: a video job failed", self.name)

    def _encode(self, frame: np.ndarray, t: float) -> list[EncodedPacket]:
        started = time.thread_time()
        size = (frame.shape[1], frame.shape[0])
        packets: list[EncodedPacket] = []
        try:
            encoder = self._encoder
            if encoder is None or (size[0] - size[0] % 2, size[1] - size[1] % 2) != encoder.size:
                if encoder is not None:
                    packets = encoder.flush()  # the old size's last frames, to its own file
                    logger.info(
                        "%s: frame size %dx%d -> %dx%d, a new segment",
                        self.name,
                        *encoder.size,
                        *size,
                    )
                self._generation += 1
                encoder = VideoEncoder(size, self.fps, self.config, t, self._generation)
                self._encoder = encoder
            packets += encoder.encode(frame, t)
            self.frames += 1
        except (av.FFmpegError, cv2.error, ValueError) as error:
            # The next frame starts a new encoder (and a new segment at its first keyframe).
            self.encode_errors += 1
            self._encoder = None
            if self.encode_errors == 1 or self.encode_errors % 100 == 0:
                logger.error(
                    "%s: encoding a %dx%d frame failed (%d so far): %s",
                    self.name,
                    *size,
                    self.encode_errors,
                    error,
                )
        self.encode_s += time.thread_time() - started
        return packets

    def _deliver(self, packets: Sequence[EncodedPacket]) -> None:
        if not packets:
            return
        for consumer in self.consumers:
            try:
                consumer.on_packets(packets)
            except Exception:
                logger.exception("%s: %s failed", self.name, type(consumer).__name__)

    def _finish(self) -> None:
        if self._encoder is not None:
            try:
                packets = self._encoder.flush()
            except av.FFmpegError:
                logger.exception("%s: flushing the encoder failed", self.name)
            else:
                self._deliver(packets)
        for consumer in self.consumers:
            try:
                consumer.on_close()
            except Exception:
                logger.exception("%s: closing %s failed", self.name, type(consumer).__name__)
