"""The camera process itself (spawned, with a real board and rings, no inference process):
a live camera that loses its server keeps running and reports it on the status board; a
source that can never work ends the process with ExitCode.SOURCE."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pytest

from pipeline.analytics import ClassRoles
from pipeline.camera.process import CameraTask, camera_main
from pipeline.config.models import SiteConfig
from pipeline.lifecycle import ExitCode
from pipeline.shm.board import StatusBoard
from pipeline.shm.layout import FrameView, SiteLayout
from pipeline.shm.segments import SegmentNames, run_prefix
from pipeline.shm.states import StreamState
from tests.camera.media import overwrite_chunks

INPUT = (160, 160)
SLOTS = 4
PASSWORD = "Pr0cess-Secret"


@dataclass
class CameraRun:
    """One spawned camera process and what it wrote: its board row and its log messages."""

    process: mp.process.BaseProcess
    board: StatusBoard
    logs: Connection
    messages: list[str] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        snapshot = self.board.snapshot()[1]
        return {name: snapshot[name].item() for name in snapshot.dtype.names or ()}

    def collect(self) -> None:
        while self.logs.poll():
            try:
                self.messages.append(self.logs.recv()[3])
            except EOFError:
                return

    def until(self, condition: Callable[[dict[str, object]], bool], timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while True:
            self.collect()
            row = self.row()
            if condition(row):
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout}s; row {row}; {self.messages}")
            time.sleep(0.05)


@pytest.fixture
def camera_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., CameraRun]]:
    layout = SiteLayout(
        SegmentNames(run_prefix("camtest")), 1, SLOTS, (FrameView(*INPUT),), max_detections=100
    )  # board rows: inference, the camera, one model
    board, rings = layout.create()
    runs: list[CameraRun] = []

    def start(source: dict[str, object], env: dict[str, str] | None = None) -> CameraRun:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        site = SiteConfig.model_validate(
            {
                "site": "camtest",
                "model": {"path": str(tmp_path / "unused.onnx")},
                "recording": {"enabled": False},
                "detections_log": {"enabled": False},
                "cameras": [{"id": "CAM063", "source": source}],
            }
        )
        roles = ClassRoles.from_names(("person",))
        task = CameraTask(
            site, site.cameras[0], 0, layout, ("person",), ("demo",), roles, (), tmp_path
        )
        parent, child = mp.Pipe(duplex=False)
        process = mp.get_context("spawn").Process(target=camera_main, args=(task, child))
        process.start()
        child.close()
        run = CameraRun(process, board, parent)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.process.is_alive() and run.process.pid is not None:
            os.kill(run.process.pid, signal.SIGKILL)
        run.process.join(10)
    for segment in (*rings, board):
        segment.close()
        segment.unlink()


def rtsp(url: str) -> dict[str, object]:
    return {
        "kind": "rtsp",
        "url": url.replace("rtsp://", "rtsp://admin:${CAM063_PASSWORD}@"),
        "open_timeout": 2.0,
        "read_timeout": 2.0,
        "stall_timeout": 2.0,
        "reconnect_initial": 0.2,
        "reconnect_max": 1.0,
    }


def test_camera_process_rides_out_a_server_restart(camera_run, rtsp_server):
    server = rtsp_server(user="admin", password=PASSWORD)
    run = camera_run(rtsp(server.url), env={"CAM063_PASSWORD": PASSWORD})
    streaming = StreamState.STREAMING

    run.until(lambda r: r["stream_state"] == streaming and r["frames_in"] > 10, 20, "streaming")
    server.kill()
    down = run.until(
        lambda r: r["stream_state"] in (StreamState.STALLED, StreamState.RECONNECTING),
        6,
        "loss on the board",
    )
    time.sleep(1.5)
    assert run.process.is_alive()
    assert run.row()["heartbeat"] > down["heartbeat"]  # the loop never blocks on the source

    server.start()
    back = run.until(lambda r: r["stream_state"] == streaming and r["reconnects"] == 1, 15, "back")
    assert back["frames_in"] > down["frames_in"]

    os.kill(run.process.pid, signal.SIGTERM)
    run.process.join(10)
    assert run.process.exitcode == ExitCode.OK
    run.collect()
    shown = f"rtsp://admin:***@127.0.0.1:{server.port}/stream"
    assert f"Connected to {shown}" in run.messages
    assert any(m.startswith(f"Connected to {shown} after") for m in run.messages)
    assert any(m.startswith(("Stream lost", "Stream stalled")) for m in run.messages)
    assert not any(PASSWORD in message for message in run.messages)


# Noise no demuxer recognises; a Y4M header whose only frame is cut short (it opens, but no
# frame decodes). Fixed bytes: random ones are now and then probed as some format (h263).
UNDECODABLE = {
    "bad.mp4": np.random.default_rng(0).bytes(50_000),
    "cut.y4m": b"YUV4MPEG2 W64 H48 F25:1 C420jpeg\nFRAME\n" + b"\x80" * 100,
}


@pytest.mark.parametrize("name", UNDECODABLE)
def test_undecodable_file_ends_the_process_with_exit_code_source(camera_run, tmp_path, name):
    bad = tmp_path / name
    bad.write_bytes(UNDECODABLE[name])
    run = camera_run({"kind": "file", "path": str(bad)})
    run.process.join(20)
    assert run.process.exitcode == ExitCode.SOURCE
    assert run.row()["stream_state"] == StreamState.OFFLINE
    run.collect()
    assert any(f"{bad}: cannot be decoded as a video" in m for m in run.messages)


def test_missing_password_variable_ends_the_process_with_exit_code_source(camera_run, monkeypatch):
    monkeypatch.delenv("CAM063_PASSWORD", raising=False)
    run = camera_run(rtsp("rtsp://127.0.0.1:9/stream"))
    run.process.join(20)
    assert run.process.exitcode == ExitCode.SOURCE
    run.collect()
    assert any("CAM063_PASSWORD is not set" in m for m in run.messages)


def test_frames_lost_to_a_corrupt_bitstream_are_on_the_status_board(camera_run, clips, tmp_path):
    damaged = overwrite_chunks(clips / "short.mp4", tmp_path / "damaged.mp4", 3, 2000, seed=7)
    run = camera_run({"kind": "file", "path": str(damaged), "loop": False})
    run.process.join(30)
    assert run.process.exitcode == ExitCode.OK
    row = run.row()
    assert row["stream_state"] == StreamState.ENDED
    assert row["decode_errors"] > 0 and row["skipped_frames"] > 0
    assert 50 <= row["frames_in"] < 100  # 100 frames encoded
