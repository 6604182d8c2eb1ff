"""Evidence per violation episode: snapshots and a clip, written beside the run's events.

    stream, evidence = open_video_outputs(site.recording, site.evidence, run_dir, site_root,
                                          camera.id, fps)
    annotated = annotate(frame.image, analysis, roles, class_names)
    stream.write(annotated, t)                              # recording and pre-roll
    refs = evidence.on_frame(analysis, annotated, t)        # {episode_id: {"snapshot": ...}}
    ... events of the frame carry refs[event.episode_id] ...
    evidence.close(); stream.close(timeout)                 # at shutdown

For each episode, as paths relative to the run folder (`evidence/<camera>/<episode id>...`):
- `snapshot`: the annotated frame on which the violation_start was raised, the worker framed
  and the rest dimmed, with a caption naming the camera, zone, worker and missing items;
- `best_snapshot` (`best_snapshot: true`): the same at the frame within `post_s` of the start
  where the worker's detection score is highest;
- `clip` (`clip: true`): H.264 MP4 (yuv420p, index first: plays in a browser) from `pre_s`
  before the start (from the keyframe at or before it, so up to `keyframe_s` more) to `post_s`
  after. The pre-roll is the annotated stream's own H.264 packets kept in memory (a 1080p
  camera at 10 frames/s holds a few MB for 10 s; bench/evidence.py measures it), so a clip is
  a copy of packets, never a second encode.

Paths are returned when the start is seen; the files appear as they are done (the start
snapshot within a frame or two, the clip and best snapshot after `post_s`), written by the
stream's worker thread: the camera loop only hands over references. Each file is written
under a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.analytics import EventKind, FrameAnalysis, ViolationEvent
from pipeline.camera.h264 import EncodedPacket, Mp4Writer
from pipeline.camera.recording import AnnotatedStream, SegmentFiles
from pipeline.config.evidence import EvidenceConfig, RecordingConfig

logger = logging.getLogger(__name__)

HIGHLIGHT = (40, 40, 235)  # BGR: the violation colour of draw.py
DIM = 0.45  # brightness kept outside the worker's box in a snapshot
FONT = cv2.FONT_HERSHEY_SIMPLEX

Refs = dict[str, str]  # "snapshot" / "best_snapshot" / "clip" -> path relative to the run folder


def emphasise(
    frame: np.ndarray, box: Sequence[float], caption: str, margin: float = 0.15
) -> np.ndarray:
    """A copy of `frame` with the worker's `box` (frame pixels, x1 y1 x2 y2) framed, everything
    outside it (grown by `margin` of its size) dimmed, and `caption` on a bar at the bottom."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = box
    grow_x, grow_y = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(0, int(x1 - grow_x)), max(0, int(y1 - grow_y))
    right, bottom = min(width, int(x2 + grow_x) + 1), min(height, int(y2 + grow_y) + 1)
    out = cv2.convertScaleAbs(frame, alpha=DIM)
    out[top:bottom, left:right] = frame[top:bottom, left:right]
    unit = max(1, round(height / 360))
    cv2.rectangle(out, (left, top), (right - 1, bottom - 1), HIGHLIGHT, 2 * unit, cv2.LINE_AA)
    scale, thickness = 0.45 * unit, max(1, unit)
    (text_w, text_h), baseline = cv2.getTextSize(caption, FONT, scale, thickness)
    if text_w > width - 4 * unit:  # a long caption on a small frame: smaller text, all of it
        scale *= (width - 4 * unit) / text_w
        (text_w, text_h), baseline = cv2.getTextSize(caption, FONT, scale, thickness)
    bar = text_h + baseline + 4 * unit
    cv2.rectangle(out, (0, height - bar), (width, height), (0, 0, 0), -1)
    cv2.putText(
        out,
        caption,
        (2 * unit, height - baseline - 2 * unit),
        FONT,
        scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )
    return out


def write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"{path}: JPEG encoding failed")
    _write_whole(path, data.tobytes())


def write_clip(path: Path, packets: Sequence[EncodedPacket], fps: float) -> int:
    """`packets` (starting at a keyframe, one encoder) to an MP4 with its index first.
    Returns the packets written."""
    temporary = path.with_name(path.name + ".part")
    writer = Mp4Writer(temporary, packets[0], fps, "+faststart")
    try:
        for packet in packets:
            writer.write(packet)
    finally:
        writer.close()
    os.replace(temporary, path)
    return writer.packets


def _write_whole(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class Preroll:
    """The last `seconds` of packets, whole GOPs: always from a keyframe at or before
    `newest - seconds`, so a clip can start there."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._gops: deque[list[EncodedPacket]] = deque()
        self.bytes = 0

    def add(self, packet: EncodedPacket) -> None:
        if self._gops and packet.generation != self._gops[-1][0].generation:
            self.clear()  # a new frame size: the old packets cannot share a file with it
        if packet.keyframe or not self._gops:
            if not packet.keyframe:
                return  # no keyframe to start from yet
            self._gops.append([])
        self._gops[-1].append(packet)
        self.bytes += len(packet.data)
        while len(self._gops) > 1 and self._gops[1][0].t <= packet.t - self.seconds:
            self.bytes -= sum(len(p.data) for p in self._gops.popleft())

    def since(self, t: float) -> list[EncodedPacket]:
        """Packets from the last keyframe at or before `t` (or the oldest held) on."""
        gops = list(self._gops)
        start = 0
        for index, gop in enumerate(gops):
            if gop[0].t <= t:
                start = index
        return [packet for gop in gops[start:] for packet in gop]

    def clear(self) -> None:
        self._gops.clear()
        self.bytes = 0


@dataclass
class _Clip:
    """Worker side: packets gathered for one episode's clip until `until`.

    The cut is made in decoding order, so every packet kept decodes: once a packet decodes
    at or after `until`, only the B-frames that fill the gaps before the latest frame kept
    are still taken (they refer only to frames already in), then the clip is done."""

    path: Path
    until: float  # camera timeline, seconds
    packets: list[EncodedPacket]
    closing: bool = False
    last_pts: int = -1  # the latest frame kept, in presentation order

    def take(self, packet: EncodedPacket) -> bool:
        """Add `packet` if it belongs; False: the clip is complete (`packet` not in it)."""
        if self.packets and packet.generation != self.packets[0].generation:
            return False
        if not self.packets and not packet.keyframe:
            return True  # nothing decodes before a keyframe
        self.closing = self.closing or packet.decode_t >= self.until
        if self.closing and (packet.keyframe or packet.pts > self.last_pts):
            return False
        self.packets.append(packet)
        self.last_pts = max(self.last_pts, packet.pts)
        return True


@dataclass
class _Watch:
    """Camera side: an episode within `post_s` of its start, for its best-score frame."""

    event: ViolationEvent
    refs: Refs
    until: float
    best_score: float = -1.0
    best: tuple[np.ndarray, tuple[float, float, float, float], float] | None = None
    tracks: frozenset[int] = field(default_factory=frozenset)


class Evidence:
    """One camera's evidence. `on_frame` and `close` run in the camera loop; everything they
    hand to `stream.call` and `on_packets` run in the stream's worker thread."""

    def __init__(
        self,
        config: EvidenceConfig,
        run_dir: Path,
        camera_id: str,
        stream: AnnotatedStream,
        keyframe_s: float,
    ) -> None:
        self.config = config
        self.camera_id = camera_id
        self.run_dir = run_dir
        self.relative_dir = Path("evidence") / camera_id
        self.stream = stream
        self.snapshots = 0  # files written (worker thread)
        self.clips = 0
        self.failures = 0
        self._episodes: dict[str, Refs] = {}  # open episodes (camera side)
        self._watches: list[_Watch] = []
        # Worker side: a keyframe can be up to keyframe_s before the clip's start.
        self._preroll = Preroll(config.pre_s + keyframe_s)
        self._clips: list[_Clip] = []
        if config.clip:
            stream.add_consumer(self)

    @property
    def preroll_bytes(self) -> int:
        return self._preroll.bytes

    def on_frame(self, analysis: FrameAnalysis, annotated: np.ndarray, t: float) -> dict[str, Refs]:
        """`annotated`: the drawn frame of `analysis` (not drawn on afterwards); `t`: its time
        on the camera timeline, as given to `stream.write`. Returns the evidence paths of
        the episodes that started or ended on this frame, by episode id."""
        refs: dict[str, Refs] = {}
        for event in analysis.events:
            if event.kind is EventKind.START:
                refs[event.episode_id] = self._start(event, annotated, t)
        refs.update(self.ended(analysis.events))
        if self._watches:
            self._follow(analysis, annotated, t)
        return refs

    def ended(self, events: Sequence[ViolationEvent]) -> dict[str, Refs]:
        """The paths of episodes that `events` end, so their end records carry them too
        (for events raised without a frame: the monitor's close at shutdown)."""
        return {
            event.episode_id: self._episodes.pop(event.episode_id)
            for event in events
            if event.kind is EventKind.END and event.episode_id in self._episodes
        }

    def close(self) -> None:
        """Queue the best snapshots of episodes still within `post_s` (the stream's close
        then finishes pending clips with what has been recorded)."""
        for watch in self._watches:
            self._queue_best(watch)
        self._watches.clear()

    # camera side -------------------------------------------------------------------------

    def _start(self, event: ViolationEvent, annotated: np.ndarray, t: float) -> Refs:
        stem = self.relative_dir / event.episode_id
        refs: Refs = {"snapshot": f"{stem}-start.jpg"}
        if self.config.best_snapshot:
            refs["best_snapshot"] = f"{stem}-best.jpg"
        if self.config.clip:
            refs["clip"] = f"{stem}.mp4"
        self._episodes[event.episode_id] = refs
        caption = self._caption(event, time.time())
        self.stream.call(partial(self._write_start, event, annotated, t, refs, caption))
        if self.config.best_snapshot:
            watch = _Watch(event, refs, t + self.config.post_s, tracks=frozenset(event.track_ids))
            self._watches.append(watch)
        return refs

    def _follow(self, analysis: FrameAnalysis, annotated: np.ndarray, t: float) -> None:
        for watch in self._watches:
            for person in analysis.persons:
                if person.track_id in watch.tracks and person.score > watch.best_score:
                    watch.best_score = person.score
                    watch.best = (annotated, person.box, person.score)
        due = [watch for watch in self._watches if t >= watch.until]
        for watch in due:
            self._queue_best(watch)
            self._watches.remove(watch)

    def _queue_best(self, watch: _Watch) -> None:
        if watch.best is None:
            return  # the worker was never seen again after the start frame
        frame, box, score = watch.best
        caption = f"{self._caption(watch.event, time.time())}  score {score:.2f}"
        path = self.run_dir / watch.refs["best_snapshot"]
        self.stream.call(partial(self._write_snapshot, path, frame, box, caption))

    def _caption(self, event: ViolationEvent, when: float) -> str:
        missing = ", ".join(item.value for item in event.missing)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))
        return f"{self.camera_id}  zone {event.zone}  #{event.track_id} without {missing}  {stamp}"

    # worker side -------------------------------------------------------------------------

    def _write_start(
        self, event: ViolationEvent, frame: np.ndarray, t: float, refs: Refs, caption: str
    ) -> None:
        if self.config.clip:
            clip = _Clip(self.run_dir / refs["clip"], t + self.config.post_s, [])
            for packet in self._preroll.since(t - self.config.pre_s):
                clip.take(packet)
            self._clips.append(clip)
        self._write_snapshot(self.run_dir / refs["snapshot"], frame, event.box, caption)

    def _write_snapshot(
        self, path: Path, frame: np.ndarray, box: Sequence[float], caption: str
    ) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_jpeg(path, emphasise(frame, box, caption), self.config.snapshot_quality)
            self.snapshots += 1
        except OSError as error:
            self.failures += 1
            logger.error("Snapshot %s not written: %s", path, error)

    def on_packets(self, packets: Sequence[EncodedPacket]) -> None:
        for packet in packets:
            self._preroll.add(packet)
            for clip in list(self._clips):
                if not clip.take(packet):
                    self._finish_clip(clip)

    def on_close(self) -> None:
        for clip in list(self._clips):
            self._finish_clip(clip)

    def _finish_clip(self, clip: _Clip) -> None:
        self._clips.remove(clip)
        if not clip.packets:
            logger.warning("Clip %s not written: no frames were recorded for it", clip.path)
            return
        started = time.perf_counter()
        try:
            clip.path.parent.mkdir(parents=True, exist_ok=True)
            write_clip(clip.path, clip.packets, self.stream.fps)
        except (OSError, av.FFmpegError) as error:
            self.failures += 1
            logger.error("Clip %s not written: %s", clip.path, error)
            return
        self.clips += 1
        logger.info(
            "Clip %s: %.1f s in %.0f ms",
            clip.path,
            (clip.packets[-1].t - clip.packets[0].t),
            (time.perf_counter() - started) * 1000,
        )


def open_video_outputs(
    recording: RecordingConfig,
    evidence: EvidenceConfig,
    run_dir: Path,
    site_root: Path | None,
    camera_id: str,
    fps: float,
) -> tuple[AnnotatedStream | None, Evidence | None]:
    """The camera's annotated stream (started) with its consumers: segment files under
    `run_dir/recordings/<camera>` when recording, evidence under `run_dir/evidence/<camera>`.
    `site_root`: the folder of the site's run folders, for retention (None: no retention).
    (None, None) when both are disabled."""
    if not (recording.enabled or evidence.enabled):
        return None, None
    stream = AnnotatedStream(recording.encoder, fps, recording.queue_frames, camera_id)
    if recording.enabled:
        directory = run_dir / "recordings" / camera_id
        stream.add_consumer(SegmentFiles(directory, recording, site_root, fps))
    found = None
    if evidence.enabled:
        found = Evidence(evidence, run_dir, camera_id, stream, recording.encoder.keyframe_s)
    stream.start()
    return stream, found
