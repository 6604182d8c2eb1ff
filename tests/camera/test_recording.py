"""Recording: H.264 segments through the real encoder, a real SIGKILLed writer, retention on
real files. Frames carry their index as black/white blocks, so every decoded frame says which
one it is: continuity and order are checked, not only counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.camera.h264 import yuv420p_frame
from pipeline.camera.recording import AnnotatedStream, SegmentFiles, open_segment_file, utc_stamp
from pipeline.camera.retention import (
    SWEEP_MARKER,
    SegmentFile,
    delete_closed,
    plan_retention,
    scan_segments,
    sweep,
)
from pipeline.config.evidence import EncoderConfig, RecordingConfig, RetentionConfig

REPO = Path(__file__).resolve().parents[2]
SIZE = (320, 240)
FPS = 10.0
BITS = 10  # frame indices up to 1023
BLOCK = 16
MARK_Y = 100  # the mark's row: clear of zone labels (top-left) and of workers drawn at the right


def marked_frame(index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A grey frame with `index` written as BITS blocks (white: 1), left to right."""
    width, height = size
    frame = np.full((height, width, 3), 110, np.uint8)
    frame[:, :, 1] = np.linspace(60, 160, width, dtype=np.uint8)[None, :]  # not flat: real bits
    for bit in range(BITS):
        x = 8 + bit * BLOCK
        value = 255 if index >> bit & 1 else 0
        frame[MARK_Y : MARK_Y + BLOCK, x : x + BLOCK] = value
    return frame


def read_mark(frame: np.ndarray) -> int:
    index = 0
    for bit in range(BITS):
        x = 8 + bit * BLOCK
        centre = frame[MARK_Y + 4 : MARK_Y + BLOCK - 4, x + 4 : x + BLOCK - 4]
        index |= int(centre.mean() > 128) << bit
    return index


def opencv_marks(path: Path) -> list[int]:
    capture = cv2.VideoCapture(str(path))
    marks = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        marks.append(read_mark(frame))
    capture.release()
    return marks


def pyav_marks(path: Path) -> tuple[list[int], tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        marks = [read_mark(frame.to_ndarray(format="bgr24")) for frame in container.decode(stream)]
    return marks, size


def segment_order(path: Path) -> tuple[str, int]:
    """20261201T101500Z.mp4 before 20261201T101500Z.1.mp4 (opened in the same second)."""
    stamp, _, rest = path.name.partition(".")
    number = rest.removesuffix("mp4").rstrip(".")
    return stamp, int(number or 0)


def recording_config(**changes: object) -> RecordingConfig:
    encoder = EncoderConfig(keyframe_s=1.0)  # 10 frames per GOP at 10 frames/s
    return RecordingConfig.model_validate(
        {"segment_s": 10.0, "encoder": encoder, "queue_frames": 256, **changes}
    )


def start_stream(
    directory: Path, config: RecordingConfig, site_root: Path | None = None
) -> tuple[AnnotatedStream, SegmentFiles]:
    stream = AnnotatedStream(config.encoder, FPS, config.queue_frames, "CAM1")
    segments = SegmentFiles(directory, config, site_root, FPS)
    stream.add_consumer(segments)
    stream.start()
    return stream, segments


def write_all(stream: AnnotatedStream, frames: list[tuple[np.ndarray, float]]) -> None:
    """Every frame, none dropped: past 200 queued, wait for the encoder to catch up."""
    for count, (frame, t) in enumerate(frames):
        if count and count % 200 == 0:
            wait_for(partial(encoded, stream, count - 50))
        assert stream.write(frame, t), "the queue holds every frame of these tests"


def encoded(stream: AnnotatedStream, frames: int) -> bool:
    return stream.frames >= frames


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_segments_hold_every_frame_in_order_and_cut_at_keyframes(tmp_path: Path) -> None:
    stream, segments = start_stream(tmp_path / "CAM1", recording_config())
    write_all(stream, [(marked_frame(i), 100.0 + i / FPS) for i in range(250)])  # 25 s
    assert stream.close(timeout=30)
    assert stream.frames == 250 and stream.dropped == 0
    assert len(segments.segments) >= 3  # 10 s each (cut at the next keyframe), then the rest
    seen: list[int] = []
    for path in segments.segments:
        marks = opencv_marks(path)
        assert (marks, SIZE) == pyav_marks(path)
        assert 100 <= len(marks) <= 120 or path == segments.segments[-1]
        seen += marks
    assert seen == list(range(250))
    assert all(path.parent == tmp_path / "CAM1" for path in segments.segments)


def _record_until_killed(directory: str, frames: int) -> None:
    """Child process: write `frames` frames, say so once the encoder has taken them, wait."""
    stream, _ = start_stream(Path(directory), recording_config())
    write_all(stream, [(marked_frame(i), i / FPS) for i in range(frames)])
    wait_for(partial(encoded, stream, frames))
    time.sleep(0.2)  # the muxer's writes of the packets ready so far
    print("written", flush=True)
    time.sleep(60)


def test_a_sigkilled_camera_leaves_segments_that_play_to_their_last_fragment(
    tmp_path: Path,
) -> None:
    """A SIGKILL left OpenCV's mp4v recording without an index: nothing played."""
    frames = 280  # two closed segments (10-12 s: cut at a keyframe) and the rest in a third
    code = (
        "from tests.camera.test_recording import _record_until_killed; "
        f"_record_until_killed({str(tmp_path)!r}, {frames})"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "written"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    paths = sorted(tmp_path.glob("*.mp4"), key=segment_order)
    assert len(paths) == 3
    seen: list[int] = []
    for path in paths:
        marks = opencv_marks(path)
        assert marks == pyav_marks(path)[0]
        seen += marks
    assert seen == list(range(len(seen)))
    # Lost: the fragment in progress (up to one 1 s GOP) and the encoder's lookahead.
    assert frames - 25 <= len(seen) < frames


def test_a_new_frame_size_starts_a_new_segment_at_that_size(tmp_path: Path) -> None:
    stream, segments = start_stream(tmp_path, recording_config())
    frames = [(marked_frame(i), i / FPS) for i in range(30)]
    frames += [(marked_frame(i, (240, 160)), i / FPS) for i in range(30, 60)]
    frames += [(marked_frame(i, (321, 241)), i / FPS) for i in range(60, 70)]  # odd: cropped
    write_all(stream, frames)
    assert stream.close(timeout=30)
    assert len(segments.segments) == 3
    results = [pyav_marks(path) for path in segments.segments]
    assert results == [
        (list(range(30)), SIZE),
        (list(range(30, 60)), (240, 160)),
        (list(range(60, 70)), SIZE),
    ]


@pytest.mark.parametrize("size", [(320, 240), (322, 242), (1920, 1080)])
def test_yuv420p_frame_copies_every_plane(size: tuple[int, int]) -> None:
    """Rows of a plane are padded for alignment (322 -> 336 bytes): the copy skips the pad."""
    width, height = size
    image = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    yuv = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), dtype=np.uint8)
    frame = yuv420p_frame(yuv, width, height)
    assert np.array_equal(frame.to_ndarray(), yuv)


def test_segment_names_never_reuse_a_file(tmp_path: Path) -> None:
    stamp = utc_stamp(1_796_120_100.0)
    assert stamp == "20261201T101500Z"
    (tmp_path / f"{stamp}.mp4").write_bytes(b"previous life")
    (tmp_path / f"{stamp}.1.mp4").write_bytes(b"and the one before")
    path, fd = open_segment_file(tmp_path, stamp)
    os.close(fd)
    assert path.name == f"{stamp}.2.mp4"
    assert (tmp_path / f"{stamp}.mp4").read_bytes() == b"previous life"


def test_a_full_queue_drops_frames_and_never_blocks(tmp_path: Path) -> None:
    stream, segments = start_stream(tmp_path, recording_config(queue_frames=4))
    release = threading.Event()
    stream.call(release.wait)  # the worker is busy, as with a slow disk
    accepted = [stream.write(marked_frame(i), i / FPS) for i in range(10)]
    assert accepted == [True] * 4 + [False] * 6
    assert stream.dropped == 6
    release.set()
    assert stream.close(timeout=30)
    assert pyav_marks(segments.segments[0])[0] == [0, 1, 2, 3]


def test_close_gives_up_after_its_timeout(tmp_path: Path) -> None:
    stream, _ = start_stream(tmp_path, recording_config())
    release = threading.Event()
    stream.call(release.wait)
    assert not stream.close(timeout=0.1)
    release.set()


# Retention ---------------------------------------------------------------------------------

NOW = 1_800_000_000.0
HOUR = 3600.0


def _segments(*spec: tuple[str, int, float]) -> list[SegmentFile]:
    """(name, size, hours ago)."""
    return [SegmentFile(Path(name), size, NOW - hours * HOUR) for name, size, hours in spec]


@pytest.mark.parametrize(
    ("segments", "max_age_h", "max_bytes", "keep", "expected"),
    [
        (_segments(("a", 10, 5), ("b", 10, 1)), None, None, (), []),
        (_segments(("a", 10, 5), ("b", 10, 1)), 2.0, None, (), ["a"]),
        (_segments(("a", 10, 5), ("b", 10, 3), ("c", 10, 1)), 2.0, None, (), ["a", "b"]),
        # size: oldest first until the rest fit
        (_segments(("b", 10, 3), ("a", 10, 5), ("c", 10, 1)), None, 15, (), ["a", "b"]),
        (_segments(("a", 10, 5), ("b", 10, 3), ("c", 10, 1)), None, 30, (), []),
        # both: age first, then size
        (_segments(("a", 5, 5), ("b", 40, 3), ("c", 10, 1)), 4.0, 20, (), ["a", "b"]),
        # an open segment counts but is never chosen: the next oldest goes instead
        (_segments(("a", 10, 5), ("b", 10, 3), ("c", 10, 1)), None, 15, ("a",), ["b", "c"]),
        (_segments(("a", 10, 5)), 1.0, None, ("a",), []),
    ],
)
def test_plan_retention(segments, max_age_h, max_bytes, keep, expected) -> None:
    max_age_s = None if max_age_h is None else max_age_h * HOUR
    plan = plan_retention(segments, NOW, max_age_s, max_bytes, {Path(name) for name in keep})
    assert [str(segment.path) for segment in plan] == expected


def _fake_segment(path: Path, size: int, hours_ago: float, now: float = NOW) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    os.utime(path, (now - hours_ago * HOUR, now - hours_ago * HOUR))
    return path


def test_sweep_deletes_closed_segments_of_every_run_and_nothing_else(tmp_path: Path) -> None:
    old_run = tmp_path / "20261130T080000Z" / "recordings"
    this_run = tmp_path / "20261201T080000Z" / "recordings"
    oldest = _fake_segment(old_run / "CAM1" / "20261130T080000Z.mp4", 1000, 30)
    old = _fake_segment(old_run / "CAM2" / "20261130T080000Z.1.mp4", 1000, 29)
    not_ours = [
        _fake_segment(old_run / "CAM1" / "CAM1.mp4", 1000, 40),
        _fake_segment(old_run / "CAM1" / "notes.txt", 1000, 40),
        _fake_segment(tmp_path / "elsewhere" / "20261130T070000Z.mp4", 1000, 40),
    ]
    open_path, lock = open_segment_file(this_run / "CAM1", "20261201T080000Z")
    _fake_segment(open_path, 1000, 28)  # being written, though old: its writer holds the lock
    recent = _fake_segment(this_run / "CAM2" / "20261201T090000Z.mp4", 1000, 1)
    config = RetentionConfig(max_age_h=24, max_total_gb=2500 / 1e9, check_interval_s=60)
    try:
        result = sweep(tmp_path, config, NOW)
        assert result is not None
        assert [segment.path for segment in result.deleted] == [oldest, old]
        assert result.in_use == [open_path]
        assert result.total_bytes == 2000
        assert open_path.exists() and recent.exists()
        assert all(path.exists() for path in not_ours)
        assert sweep(tmp_path, config, NOW + 10) is None  # another camera swept just now
    finally:
        os.close(lock)
    assert delete_closed(open_path) is True  # closed now
    assert delete_closed(open_path) is None
    forced = sweep(tmp_path, config, NOW + 10, force=True)
    assert forced is not None and forced.deleted == []
    assert (tmp_path / SWEEP_MARKER).read_text().strip() == f"{NOW + 10:.3f}"
    assert [s.path for s in scan_segments(tmp_path)] == [recent]


def test_opening_a_segment_applies_retention_and_spares_the_new_one(tmp_path: Path) -> None:
    previous = tmp_path / "run0" / "recordings" / "CAM1"
    stale = [
        _fake_segment(previous / f"2026113{day}T080000Z.mp4", 400_000, 24 - day, time.time())
        for day in (0, 1)
    ]
    retention = RetentionConfig(max_age_h=None, max_total_gb=700_000 / 1e9, check_interval_s=0)
    config = recording_config(retention=retention)
    stream, segments = start_stream(tmp_path / "run1" / "recordings" / "CAM1", config, tmp_path)
    write_all(stream, [(marked_frame(i), i / FPS) for i in range(150)])  # two segments
    assert stream.close(timeout=30)
    assert len(segments.segments) == 2
    # The first open found 800 kB held: the oldest went; the second found the rest fit.
    assert [path.exists() for path in stale] == [False, True]
    assert all(path.exists() for path in segments.segments)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"segment_s": 1}, "greater than or equal to 10"),
        ({"encoder": {"preset": "placebo"}}, "ultrafast"),
        ({"encoder": {"keyframe_s": 30}}, "less than or equal to 10"),
        ({"retention": {"max_total_gb": 0}}, "greater than 0"),
        ({"fourcc": "mp4v"}, "fourcc is gone: recordings are H.264"),
        ({"segments": 300}, "Extra inputs are not permitted"),
    ],
)
def test_recording_config_rejects(section, message) -> None:
    with pytest.raises(ValidationError, match=message):
        RecordingConfig.model_validate(section)
