"""Capture of files (damaged, undecodable, resolution-changing, paced or lossless), the
synthetic scene, and sources that cannot work here."""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from pipeline.camera.capture import Capture
from pipeline.camera.sources import SourceError, opencv_has_gstreamer
from pipeline.config.sources import (
    FileSource,
    GStreamerSource,
    RtspSource,
    SyntheticSource,
    UsbSource,
)
from pipeline.shm.states import StreamState
from tests.camera.media import encode_pattern, garbage, overwrite_chunks
from tests.camera.watch import Watch


def read_all(config: FileSource, timeout: float = 20.0) -> tuple[Capture, Watch]:
    capture = Capture(config, "CAM1")
    with capture:
        watch = Watch(capture)
        watch.until(lambda: capture.finished, timeout, "end of the file")
        watch.step()
    return capture, watch


def whole_file(path: Path) -> FileSource:
    return FileSource(path=path, loop=False, realtime=False)


def test_corrupt_bitstream_skips_and_counts_bad_frames(clips, tmp_path):
    damaged = overwrite_chunks(clips / "short.mp4", tmp_path / "damaged.mp4", 3, 2000, seed=7)
    capture, watch = read_all(whole_file(damaged))
    assert capture.state is StreamState.ENDED
    assert capture.failure is None and capture.crashed is None
    assert 50 <= len(watch.frames) < 100  # 100 frames encoded; the damaged ones are gone
    assert capture.decode_errors > 0
    assert capture.skipped_frames > 0
    indices = [frame.index for frame in watch.frames]
    assert indices == list(range(len(indices)))
    assert all(frame.image.shape == (240, 320, 3) for frame in watch.frames)


def test_truncated_raw_stream_delivers_what_is_there(tmp_path):
    clip = encode_pattern(tmp_path / "clip.h264", 320, 240, frames=40)
    cut = tmp_path / "cut.h264"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    capture, watch = read_all(whole_file(cut))
    assert capture.state is StreamState.ENDED
    assert 5 <= len(watch.frames) < 40


@pytest.mark.parametrize("kind", ["garbage", "truncated mp4", "empty"])
def test_undecodable_file_is_one_clear_error_and_offline(kind, clips, tmp_path):
    path = tmp_path / "bad.mp4"
    if kind == "garbage":
        garbage(path, 100_000, seed=3)
    elif kind == "truncated mp4":  # the index (moov) is written last: a cut file has none
        whole = (clips / "short.mp4").read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    else:
        path.write_bytes(b"")
    capture, watch = read_all(whole_file(path))
    assert capture.state is StreamState.OFFLINE
    assert watch.frames == []
    assert isinstance(capture.failure, SourceError)
    # FFmpeg's own reason is part of the message (an MP4 without its index here).
    assert str(capture.failure) == f"{path}: cannot be decoded as a video (moov atom not found)"
    assert [t.state for t in capture.history] == [StreamState.CONNECTING, StreamState.OFFLINE]


def test_missing_file_fails_before_any_thread():
    with pytest.raises(SourceError, match="video file not found"):
        Capture(whole_file(Path("/nonexistent/clip.mp4")), "CAM1")


def test_resolution_change_inside_one_raw_stream(tmp_path):
    """Two clips of different sizes concatenated into one H.264 stream (an in-band SPS change).

    OpenCV's FFmpeg backend keeps converting to the size it opened with (opencv/opencv#27116):
    the second part arrives scaled to 320x240. What must hold: every frame of both parts is
    delivered and nothing breaks. (A camera reconfigured over RTSP restarts its session, which
    delivers the new size: see test_capture_rtsp.py.)
    """
    small = encode_pattern(tmp_path / "small.h264", 320, 240, frames=30)
    large = encode_pattern(tmp_path / "large.h264", 480, 272, frames=30, pattern="bars")
    both = tmp_path / "both.h264"
    both.write_bytes(small.read_bytes() + large.read_bytes())
    capture, watch = read_all(whole_file(both))
    assert capture.state is StreamState.ENDED
    assert len(watch.frames) == 60
    assert capture.decode_errors == 0
    # The first part is a ball on black; the second colour bars (bright everywhere).
    assert np.mean(watch.frames[10].image) < 40 < np.mean(watch.frames[45].image)


def test_non_realtime_file_hands_over_every_frame_to_a_slow_loop(clips):
    capture = Capture(whole_file(clips / "short.mp4"), "CAM1")
    with capture:
        watch = Watch(capture)
        while not capture.finished:
            watch.step()
            time.sleep(0.01)  # slower than decoding
        watch.step()
    assert len(watch.frames) == 100
    assert capture.overwritten == 0
    assert [frame.index for frame in watch.frames] == list(range(100))


def test_realtime_file_is_paced_and_a_slow_loop_gets_the_newest_frame(clips):
    config = FileSource(path=clips / "short.mp4", loop=True, realtime=True)
    with Capture(config, "CAM1") as capture:
        watch = Watch(capture)
        watch.until(lambda: len(watch.frames) >= 11, 3.0, "paced frames")
        span = watch.frames[-1].captured_at - watch.frames[0].captured_at
        assert span == pytest.approx(1.0, abs=0.25)  # 10 frames/s
        before = capture.overwritten
        for _ in range(3):
            time.sleep(0.35)
            watch.step()
        assert capture.overwritten >= before + 6
        steps = np.diff([frame.index for frame in watch.frames[-3:]])
        assert (steps >= 3).all()


def test_looping_file_keeps_counting(clips):
    config = FileSource(path=clips / "short.mp4", loop=True, realtime=False)
    with Capture(config, "CAM1") as capture:
        watch = Watch(capture)
        watch.until(lambda: len(watch.frames) >= 150, 20.0, "a second pass")
    stamps = [frame.pts for frame in watch.frames]
    assert [frame.index for frame in watch.frames] == list(range(len(stamps)))
    assert all(later > earlier for earlier, later in pairwise(stamps))


def test_synthetic_scene_streams_from_its_start_index():
    config = SyntheticSource(width=160, height=96, fps=20.0, start_index=7)
    with Capture(config, "CAM1") as capture:
        watch = Watch(capture)
        watch.until(lambda: len(watch.frames) >= 3, 5.0, "rendered frames")
        assert capture.state is StreamState.STREAMING
    assert watch.frames[0].index == 7
    assert watch.frames[0].image.shape == (96, 160, 3)


def test_absent_usb_device_keeps_retrying():
    config = UsbSource(device="/dev/video-absent", reconnect_initial=0.05, reconnect_max=0.1)
    with Capture(config, "CAM1") as capture:
        watch = Watch(capture)
        watch.until(lambda: capture.open_failures >= 3, 5.0, "retries")
        assert capture.state is StreamState.CONNECTING
        assert capture.failure is None
        assert "/dev/video-absent" in (capture.last_error or "")


def test_gstreamer_pipeline_needs_an_opencv_built_with_it():
    config = GStreamerSource(pipeline="videotestsrc num-buffers=50 ! videoconvert ! appsink")
    if opencv_has_gstreamer():
        with Capture(config, "CAM1") as capture:
            watch = Watch(capture)
            watch.until(lambda: len(watch.frames) >= 3, 10.0, "pipeline frames")
    else:
        with pytest.raises(SourceError, match="this OpenCV build has no GStreamer support"):
            Capture(config, "CAM1")


def test_missing_credential_variable_names_camera_and_variable():
    config = RtspSource(url="rtsp://admin:${CAM063_PASSWORD}@10.0.0.63/stream1")
    with pytest.raises(SourceError) as caught:
        Capture(config, "CAM063", environ={})
    assert "camera CAM063" in str(caught.value)
    assert "CAM063_PASSWORD is not set" in str(caught.value)
