"""Evidence: a scripted worker takes his helmet off in front of the real analytics, drawing,
encoder and muxer; the snapshots and clip that come out are decoded and checked frame by
frame (each frame carries its index, see test_recording.marked_frame)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.analytics import ClassRoles, EventKind, ViolationEvent
from pipeline.camera.draw import annotate
from pipeline.camera.evidence import DIM, Evidence, Preroll, Refs, emphasise, open_video_outputs
from pipeline.camera.h264 import EncodedPacket
from pipeline.camera.recording import AnnotatedStream
from pipeline.config.evidence import EncoderConfig, EvidenceConfig, RecordingConfig
from tests.analytics.scenes import CLASS_NAMES, Worker, detections_at, make_monitor
from tests.camera.test_recording import (
    FPS,
    SIZE,
    marked_frame,
    opencv_marks,
    pyav_marks,
    read_mark,
)

KEYFRAME_S = 1.0
# Feet at the right of the 320x240 frame, clear of the frame index blocks on the left.
BARE_HEADED = Worker(feet=(260.0, 200.0), height=120.0, helmet_off=((1.0, 1e9),))
HELMET_BACK = Worker(feet=(260.0, 200.0), height=120.0, helmet_off=((1.0, 9.0),))


@dataclass
class CameraRun:
    stream: AnnotatedStream | None
    evidence: Evidence | None
    events: list[ViolationEvent] = field(default_factory=list)
    refs: dict[str, list[Refs]] = field(default_factory=dict)  # by episode, start then end
    start_index: dict[str, int] = field(default_factory=dict)  # frame index of each start
    last_index: int = 0


def run_camera(
    run_dir: Path,
    evidence: EvidenceConfig,
    seconds: float,
    worker: Worker = BARE_HEADED,
    recording: bool = True,
    block_worker: threading.Event | None = None,
    queue_frames: int = 256,
) -> CameraRun:
    """The camera loop's calls, in its order, for `seconds` at FPS; then its shutdown. The loop
    is not paced, so by default the encoder's queue holds every frame of a run: a busy machine's
    encoder falls behind such a loop and would drop frames the checks expect."""
    encoder = EncoderConfig(keyframe_s=KEYFRAME_S)
    config = RecordingConfig(enabled=recording, encoder=encoder, queue_frames=queue_frames)
    stream, found = open_video_outputs(config, evidence, run_dir, None, "CAM1", FPS)
    assert stream is not None and found is not None
    run = CameraRun(stream, found)
    if block_worker is not None:
        stream.call(block_worker.wait)
    monitor = make_monitor(fps=FPS)
    roles = ClassRoles.from_names(CLASS_NAMES)
    for index in range(1, round(seconds * FPS) + 1):
        t = index / FPS
        analysis = monitor.update(detections_at([worker], t), t, SIZE)
        annotated = annotate(marked_frame(index), analysis, roles, CLASS_NAMES)
        stream.write(annotated, t)
        for episode, refs in found.on_frame(analysis, annotated, t).items():
            run.refs.setdefault(episode, []).append(refs)
        for event in analysis.events:
            if event.kind is EventKind.START:
                run.start_index[event.episode_id] = index
        run.events += analysis.events
        run.last_index = index
    closing = monitor.close(run.last_index / FPS + 1e-6)
    for episode, refs in found.ended(closing).items():
        run.refs.setdefault(episode, []).append(refs)
    run.events += closing
    if block_worker is not None:
        block_worker.set()
    found.close()
    assert stream.close(timeout=30)
    return run


def top_level_boxes(path: Path) -> list[str]:
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        boxes.append(data[offset + 4 : offset + 8].decode())
        offset += size if size else len(data)
    return boxes


def test_an_episode_gets_snapshots_and_a_clip_from_before_its_start(tmp_path: Path) -> None:
    config = EvidenceConfig(pre_s=2.0, post_s=3.0)
    run = run_camera(tmp_path, config, seconds=12.0, worker=HELMET_BACK)
    starts = [e for e in run.events if e.kind is EventKind.START]
    assert len(starts) == 1 and len(run.events) == 2  # helmet back on: the episode ended
    episode = starts[0].episode_id
    stem = f"evidence/CAM1/{episode}"
    expected = {"snapshot": f"{stem}-start.jpg", "best_snapshot": f"{stem}-best.jpg"}
    expected["clip"] = f"{stem}.mp4"
    assert run.refs[episode] == [expected, expected]  # the start and the end carry them

    start = run.start_index[episode]
    pre, post, gop = round(2.0 * FPS), round(3.0 * FPS), round(KEYFRAME_S * FPS)
    snapshot = cv2.imread(str(tmp_path / expected["snapshot"]))
    best = cv2.imread(str(tmp_path / expected["best_snapshot"]))
    assert snapshot is not None and snapshot.shape == (SIZE[1], SIZE[0], 3)
    assert read_mark_dimmed(snapshot) == start  # the frame the start was raised on
    assert best is not None and start <= read_mark_dimmed(best) < start + post

    clip = tmp_path / expected["clip"]
    marks, size = pyav_marks(clip)
    assert size == SIZE and opencv_marks(clip) == marks
    assert start - pre - gop <= marks[0] <= start - pre  # from the keyframe before start - pre_s
    # Every frame before start + post_s, and the few the encoder had reordered ahead of them
    # (the cut is in decoding order, so every frame kept decodes).
    assert start + post - 1 <= marks[-1] <= start + post + 5
    assert marks == list(range(marks[0], marks[-1] + 1))
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
    boxes = top_level_boxes(clip)
    assert boxes.index("moov") < boxes.index("mdat")  # index first: a browser plays it at once
    assert not list(tmp_path.rglob("*.part"))
    recorded = list((tmp_path / "recordings" / "CAM1").glob("*.mp4"))
    assert len(recorded) == 1 and pyav_marks(recorded[0])[0] == list(range(1, 121))


def read_mark_dimmed(image: np.ndarray) -> int:
    """A snapshot dims the frame outside the worker: the index blocks are still legible."""
    brightened = cv2.convertScaleAbs(image, alpha=1 / DIM)
    return read_mark(brightened)


@pytest.mark.parametrize("recording", [True, False])
def test_an_early_violation_clip_starts_at_the_first_frame(tmp_path: Path, recording: bool) -> None:
    run = run_camera(tmp_path, EvidenceConfig(pre_s=30.0, post_s=1.0), 6.0, recording=recording)
    (episode,) = run.start_index
    marks, _ = pyav_marks(tmp_path / run.refs[episode][0]["clip"])
    assert marks[0] == 1 and marks[-1] >= run.start_index[episode] + 10 - 1
    assert (tmp_path / "recordings").exists() is recording


def test_a_camera_stopping_within_post_s_finishes_the_clip_with_what_it_has(
    tmp_path: Path,
) -> None:
    run = run_camera(tmp_path, EvidenceConfig(pre_s=1.0, post_s=30.0), seconds=7.0)
    (episode,) = run.start_index
    refs = run.refs[episode]
    assert len(refs) == 2  # the start, and the end the monitor's close raised (stopped)
    marks, _ = pyav_marks(tmp_path / refs[0]["clip"])
    assert marks[-1] == run.last_index  # the encoder flushed at close: every frame is in it
    assert (tmp_path / refs[0]["best_snapshot"]).exists()


def test_snapshots_only_need_no_encoder(tmp_path: Path) -> None:
    config = EvidenceConfig(clip=False, best_snapshot=False)
    run = run_camera(tmp_path, config, seconds=6.0, recording=False)
    (episode,) = run.start_index
    assert run.refs[episode][0] == {"snapshot": f"evidence/CAM1/{episode}-start.jpg"}
    assert (tmp_path / run.refs[episode][0]["snapshot"]).exists()
    assert run.stream is not None and run.stream.frames == 0 and run.stream.consumers == []


def test_a_busy_worker_drops_frames_never_snapshots(tmp_path: Path) -> None:
    """The loop hands over and goes on: with the worker stuck (a slow disk), frames beyond
    the queue are dropped from recording and pre-roll, and the snapshot is still written."""
    release = threading.Event()
    run = run_camera(tmp_path, EvidenceConfig(), 6.0, block_worker=release, queue_frames=8)
    assert run.stream is not None and run.stream.dropped == run.last_index - 8
    (episode,) = run.start_index
    assert (tmp_path / run.refs[episode][0]["snapshot"]).exists()


@pytest.mark.parametrize(
    ("box", "outside"),
    [
        ((100.0, 60.0, 160.0, 200.0), (20, 20)),
        ((-20.0, -10.0, 40.0, 90.0), (200, 100)),  # partly outside the frame
        ((300.0, 180.0, 340.0, 260.0), (20, 100)),
    ],
)
def test_emphasise_frames_the_worker_and_dims_the_rest(box, outside) -> None:
    frame = np.full((SIZE[1], SIZE[0], 3), 200, np.uint8)
    caption = "CAM1  zone frame  #3 without helmet, vest  2026-12-01 10:15:00 UTC  score 0.91"
    out = emphasise(frame, box, caption, margin=0.0)
    assert out.shape == frame.shape and frame.min() == 200  # the input is not drawn on
    x1, y1, x2, y2 = (int(v) for v in box)
    inside = out[max(0, y1) + 4 : min(200, y2) - 4, max(0, x1) + 4 : min(SIZE[0], x2) - 4]
    assert inside.size and (inside == 200).all()
    x, y = outside
    assert (out[y : y + 10, x : x + 10] == round(200 * DIM)).all()
    assert (out[-3:, :] == 0).mean() > 0.5  # the caption bar, white text on black


def packet(t: float, keyframe: bool, generation: int = 1) -> EncodedPacket:
    pts = round(t * 1000)
    return EncodedPacket(b"x" * 100, pts, pts, keyframe, t, generation, SIZE)


@pytest.mark.parametrize(
    ("seconds", "since", "first"),
    [
        (3.0, 7.0, 6.0),  # the keyframe at or before 7.0
        (3.0, 6.0, 6.0),
        (3.0, 5.5, 6.0),  # before what is held (10 s - 3 s needs the GOP from 6): the oldest
        (3.0, 0.0, 6.0),
        (0.5, 9.9, 8.0),
    ],
)
def test_preroll_keeps_whole_gops_back_to_its_seconds(seconds, since, first) -> None:
    preroll = Preroll(seconds)
    for index in range(101):  # 0 to 10 s at 10 packets/s, a keyframe every 2 s
        preroll.add(packet(index / 10, index % 20 == 0))
    packets = preroll.since(since)
    assert packets[0].keyframe and packets[0].t == pytest.approx(first)
    assert packets[-1].t == pytest.approx(10.0)
    assert preroll.bytes == 100 * len(preroll.since(-1))


def test_preroll_starts_over_at_a_new_frame_size() -> None:
    preroll = Preroll(5.0)
    preroll.add(packet(0.05, False))  # nothing before the first keyframe is kept
    for index in range(1, 30):
        preroll.add(packet(index / 10, index % 10 == 1))
    preroll.add(packet(3.0, True, generation=2))
    assert [p.generation for p in preroll.since(0.0)] == [2]


def test_evidence_config_rejects_a_clip_of_no_length() -> None:
    with pytest.raises(ValidationError, match="clip: false"):
        EvidenceConfig(pre_s=0, post_s=0)
    assert EvidenceConfig(pre_s=0, post_s=0, clip=False).clip is False
