"""Capture against a real RTSP server that dies, freezes, flaps, starts late or rejects the
password: what the camera loop would see (states, counters, frames)."""

from __future__ import annotations

import os
import threading
import time
from itertools import pairwise

import cv2
import numpy as np
import pytest

from pipeline.camera.capture import Capture
from pipeline.config.sources import RtspSource
from pipeline.shm.states import StreamState
from tests.camera.watch import Watch

OPEN_TIMEOUT = READ_TIMEOUT = STALL_TIMEOUT = 2.0
BACKOFF_MAX = 1.0
# Longest a connect may take here: FFmpeg probes the stream for up to 1 s, plus slack.
CONNECT = OPEN_TIMEOUT + 2.0


def stream(url: str, **overrides: object) -> RtspSource:
    settings: dict[str, object] = {
        "url": url,
        "open_timeout": OPEN_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "stall_timeout": STALL_TIMEOUT,
        "reconnect_initial": 0.2,
        "reconnect_max": BACKOFF_MAX,
    }
    settings.update(overrides)
    return RtspSource.model_validate(settings)


def test_killed_server_then_restarted_on_the_same_port(rtsp_server):
    server = rtsp_server()
    with Capture(stream(server.url), "CAM1") as capture:
        watch = Watch(capture)
        watch.until(lambda: len(watch.frames) >= 10, CONNECT + 2, "first frames")
        assert capture.state is StreamState.STREAMING
        assert capture.history[0].state is StreamState.CONNECTING

        killed_at = time.monotonic()
        server.kill()
        took = watch.until(
            watch.in_state(StreamState.STALLED, StreamState.RECONNECTING),
            STALL_TIMEOUT + READ_TIMEOUT + 1,
            "loss noticed",
        )
        assert took <= STALL_TIMEOUT + READ_TIMEOUT + 1

        server.start()
        restarted_at = time.monotonic()
        watch.until(watch.new_frames(restarted_at, 10), BACKOFF_MAX + CONNECT + 2, "frames again")
        assert capture.state is StreamState.STREAMING
        assert capture.reconnects == 1
        assert watch.state_names()[-1] == "STREAMING"
        assert StreamState.RECONNECTING in [t.state for t in capture.history]
        # Nothing arrived while the server was down.
        assert all(f.captured_at > restarted_at for f in watch.frames_since(killed_at + 0.5))
        # One timeline across the two sessions: indices and timestamps keep increasing.
        indices = [frame.index for frame in watch.frames]
        stamps = [frame.pts for frame in watch.frames]
        assert indices == sorted(set(indices))
        assert all(later > earlier for earlier, later in pairwise(stamps))


def test_frozen_server_stalls_reconnects_and_recovers(rtsp_server):
    server = rtsp_server()
    with Capture(stream(server.url), "CAM1") as capture:
        watch = Watch(capture)
        watch.until(lambda: len(watch.frames) >= 10, CONNECT + 2, "first frames")

        frozen_at = time.monotonic()
        server.freeze()
        # The capture thread wakes from its blocked read within the read timeout and reconnects.
        watch.until(
            watch.in_state(StreamState.RECONNECTING),
            STALL_TIMEOUT + READ_TIMEOUT + 1.5,
            "reconnect after stall",
        )
        # STALLED comes first but lasts only until the reconnect starts: a loaded machine may not
        # sample it, so its time also comes from the capture's own history of transitions.
        stalled_at = watch.first_time_in(StreamState.STALLED, frozen_at) or next(
            (t.at for t in capture.history if t.state is StreamState.STALLED), None
        )
        assert stalled_at is not None, list(capture.history)
        # Frames already on their way when the server froze may still arrive: some slack.
        assert STALL_TIMEOUT - 0.5 <= stalled_at - frozen_at <= STALL_TIMEOUT + 1.5
        failures_before = capture.open_failures
        watch.until(
            lambda: capture.open_failures > failures_before,
            BACKOFF_MAX + OPEN_TIMEOUT + 1.5,
            "a reconnect attempt that times out against the frozen server",
        )
        assert all(a >= frozen_at for a in list(capture.attempt_times)[1:])

        thawed_at = time.monotonic()
        server.thaw()
        watch.until(watch.new_frames(thawed_at, 10), BACKOFF_MAX + 2 * CONNECT, "frames again")
        assert capture.state is StreamState.STREAMING
        assert capture.reconnects == 1
        assert "RECONNECTING" in set(watch.state_names())


def test_unreachable_at_start_retries_with_growing_intervals(rtsp_server):
    server = rtsp_server(start=False)
    with Capture(stream(server.url), "CAM1") as capture:
        watch = Watch(capture)
        watch.run_for(4.0)
        assert capture.state is StreamState.CONNECTING  # keeps trying; never gives up
        assert capture.failure is None
        assert "Connection refused" in (capture.last_error or "")
        attempts, failures = list(capture.attempt_times), capture.open_failures
        assert len(attempts) - 1 <= failures <= len(attempts)  # every attempt failed
        gaps = [later - earlier for earlier, later in pairwise(attempts)]
        assert len(gaps) >= 4
        assert gaps[0] < gaps[1] < gaps[2]  # 0.2, 0.4, 0.8 s less up to 20% jitter
        assert gaps[0] >= 0.2 * 0.8 - 0.01
        assert max(gaps) <= BACKOFF_MAX + 0.2

        started_at = time.monotonic()
        server.start()
        watch.until(watch.new_frames(started_at, 5), BACKOFF_MAX + CONNECT + 2, "first frames")
        assert capture.state is StreamState.STREAMING
        assert capture.reconnects == 0  # a first connection, not a reconnection


def _open_fds() -> dict[str, str]:
    """fd number -> what it points at (socket:[inode], pipe:[...], a path)."""
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:
            continue  # the descriptor listdir itself used
    return fds


def _native_threads() -> set[str]:
    return set(os.listdir("/proc/self/task"))


@pytest.mark.slow
def test_flapping_server_counts_reconnects_and_leaks_nothing(rtsp_server):
    server = rtsp_server()
    # Let FFmpeg load everything it keeps for the process's life before taking the baseline.
    warm = cv2.VideoCapture(server.url, cv2.CAP_FFMPEG)
    assert warm.isOpened()
    warm.release()
    # OpenCV starts its worker pool on the first parallel call: start it before the baseline.
    cv2.resize(np.zeros((1080, 1920, 3), np.uint8), (640, 360))
    # Other tests' background threads may end meanwhile: look for new things, not counts.
    fds_before, threads_before = _open_fds(), set(threading.enumerate())
    native_before = _native_threads()

    cycles = 6
    with Capture(stream(server.url), "CAM1") as capture:
        watch = Watch(capture)
        for cycle in range(cycles):
            up_at = time.monotonic()
            watch.until(watch.new_frames(up_at, 5), BACKOFF_MAX + CONNECT + 2, f"cycle {cycle}")
            watch.run_for(1.0)
            server.kill()
            watch.until(
                watch.in_state(StreamState.RECONNECTING, StreamState.STALLED),
                STALL_TIMEOUT + READ_TIMEOUT + 1,
                f"loss in cycle {cycle}",
            )
            watch.run_for(1.5)
            server.start()
        watch.until(watch.new_frames(time.monotonic(), 5), BACKOFF_MAX + CONNECT + 2, "last up")
        assert capture.reconnects == cycles
    assert not capture.running
    assert set(threading.enumerate()) - threads_before == set()
    # Decoder threads finish exiting shortly after release(): a leak is one that stays.
    deadline = time.monotonic() + 5
    while _native_threads() - native_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _native_threads() - native_before == set()
    new_fds = {fd: target for fd, target in _open_fds().items() if fds_before.get(fd) != target}
    assert {fd: t for fd, t in new_fds.items() if fd not in server.pipe_fds()} == {}


def test_rejected_password_is_reported_once_retried_slowly_and_never_shown(
    rtsp_server, caplog, capfd
):
    password, wrong = "Corr3ct-h0rse", "wr0ng-Battery-staple"
    server = rtsp_server(user="admin", password=password)
    url = server.url.replace("rtsp://", "rtsp://admin:${CAM1_PASSWORD}@")
    caplog.set_level("DEBUG", logger="pipeline")
    with Capture(stream(url), "CAM1", environ={"CAM1_PASSWORD": wrong}) as capture:
        watch = Watch(capture)
        watch.until(lambda: capture.auth_failed, CONNECT, "authentication failure")
        watch.until(lambda: capture.open_failures >= 3, 3 * BACKOFF_MAX + 1, "slow retries")
        assert capture.state is StreamState.AUTH_FAILED  # its own state, still retrying
        assert capture.failure is None
        attempts = list(capture.attempt_times)
        gaps = [later - earlier for earlier, later in pairwise(attempts)]
        assert min(gaps) >= BACKOFF_MAX * 0.8 - 0.01  # at the cap from the first failure
        assert "401" in (capture.last_error or "")
        assert "admin:***@" in (capture.last_error or "")
    errors = [r for r in caplog.records if "Authentication failed" in r.getMessage()]
    assert len(errors) == 1 and errors[0].levelname == "ERROR"
    shown = [caplog.text, capture.last_error or "", *(t.detail for t in capture.history)]
    shown += list(capfd.readouterr())
    for text in shown:
        assert wrong not in text and password not in text

    with Capture(stream(url), "CAM1", environ={"CAM1_PASSWORD": password}) as capture:
        watch = Watch(capture)
        watch.until(lambda: len(watch.frames) >= 5, CONNECT + 1, "frames with the right password")
        assert not capture.auth_failed


@pytest.mark.parametrize("blocked_in", ["open", "read"])
def test_stop_returns_while_blocked(blocked_in, rtsp_server):
    server = rtsp_server()
    capture = Capture(stream(server.url), "CAM1")
    if blocked_in == "open":
        server.freeze()  # accepts the TCP connection (kernel backlog), never answers
        capture.start()
    else:
        capture.start()
        watch = Watch(capture)
        watch.until(lambda: len(watch.frames) >= 3, CONNECT + 2, "first frames")
        server.freeze()  # the next read waits for data that never comes
    time.sleep(0.3)
    stop_at = time.monotonic()
    capture.stop()
    assert time.monotonic() - stop_at <= max(OPEN_TIMEOUT, READ_TIMEOUT) + 1
    assert not capture.running


def test_resolution_change_on_reconnect_delivers_both_sizes(rtsp_server, clips):
    """A camera reconfigured to another resolution restarts its RTSP session."""
    server = rtsp_server()
    with Capture(stream(server.url), "CAM1") as capture:
        watch = Watch(capture)
        watch.until(lambda: len(watch.frames) >= 5, CONNECT + 2, "small frames")
        server.kill()
        server.start(clip=clips / "large.mp4")
        moved_at = time.monotonic()
        watch.until(watch.new_frames(moved_at, 5), 2 * CONNECT, "large frames")
    sizes = [frame.image.shape for frame in watch.frames]
    assert sizes[0] == (240, 320, 3)
    assert sizes[-1] == (272, 480, 3)
    assert capture.frame_size == (480, 272)


def test_udp_transport_streams(rtsp_server, monkeypatch):
    monkeypatch.delenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", raising=False)  # restored afterwards
    server = rtsp_server()
    with Capture(stream(server.url, transport="udp"), "CAM1") as capture:
        watch = Watch(capture)
        watch.until(lambda: len(watch.frames) >= 10, CONNECT + 2, "frames over UDP")
        assert capture.state is StreamState.STREAMING
    assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"].startswith("rtsp_transport;udp|")
