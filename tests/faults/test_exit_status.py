"""The site's exit status says how it ended (pipeline/lifecycle.py): 0 on a requested stop
(in time, recordings playable, no segment left), 2 for what preflight finds, 3 for a model
that cannot run (FATAL at once, never restarted), 4 when no camera's source can work."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import cv2
import pytest

from tests.faults.models import marker_video, unloadable_detector
from tests.faults.site import MODEL, REPO, START, FaultSite, synthetic_cameras, wait_for


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_requested_stop_exits_0_in_time_with_playable_recordings(fault_site: FaultSite, signum):
    fault_site.write(synthetic_cameras(fps=8), supervisor_shutdown_timeout=20)
    with fault_site.running():
        wait_for(
            lambda: all(fault_site.answered_since(c, 0, 10) for c in ("CAM1", "CAM2")),
            START,
            "answers",
        )
        asked = time.monotonic()
        assert fault_site.stop(signum) == 0, fault_site.output
        assert time.monotonic() - asked < 20
    log = fault_site.log
    assert f"Stop requested (signal {signal.Signals(signum).name})" in log
    for camera in ("CAM1", "CAM2"):
        found = re.search(
            rf"\[{camera}\] \[INFO\] Recording finalized: (\S+) \((\d+) frames\)", log
        )
        assert found, log
        video = cv2.VideoCapture(found[1])
        frames = 0
        while video.read()[0]:
            frames += 1
        video.release()
        assert frames == int(found[2]) > 0
    assert fault_site.leftover_segments() == []


def test_a_model_that_cannot_run_is_fatal_at_once_and_the_site_exits_3(fault_site: FaultSite):
    model = unloadable_detector(MODEL, fault_site.folder / "unloadable.onnx")
    fault_site.write(synthetic_cameras(fps=5), model=model)
    with fault_site.running() as site:
        assert site.wait(START + 30) == 3, fault_site.output
    log = fault_site.log
    assert len(fault_site.pids("INFERENCE")) == 1  # never restarted
    assert "ONNX Runtime cannot load it" in log
    assert (
        "[SUPERVISOR] [ERROR] INFERENCE: FATAL: process exited with code 3 (MODEL); a restart "
        "cannot fix this, not restarting" in log
    )
    assert "[SUPERVISOR] [ERROR] Inference cannot run (exited with code 3 (MODEL))" in log
    assert "restarting in" not in log
    assert fault_site.leftover_segments() == []


def test_every_camera_offline_ends_the_site_with_4(fault_site: FaultSite):
    """The video is replaced by something that is not a video under the running site."""
    video = marker_video(fault_site.folder / "cam.mp4", frames=100, marked=range(0))
    fault_site.write(f"  - id: CAMF\n    source: {{kind: file, path: {video}, loop: true}}\n")
    with fault_site.running() as site:
        wait_for(lambda: fault_site.answered_since("CAMF", 0), START, "answers")
        video.write_bytes(b"\x00garbage, no longer a video" * 100)
        fault_site.kill("CAMF")
        assert site.wait(START) == 4, fault_site.output
    log = fault_site.log
    assert "cannot be decoded as a video" in log
    assert "[SUPERVISOR] [ERROR] CAMF: OFFLINE: its source can never work as configured" in log
    assert "No camera can run any more (CAMF OFFLINE); stopping the site" in log
    assert fault_site.leftover_segments() == []


def test_what_can_never_work_is_refused_at_once_all_listed_exit_2(fault_site: FaultSite):
    not_video = fault_site.folder / "notes.mp4"
    not_video.write_text("meeting notes, not a video\n")
    fault_site.write(
        f"  - id: CAM1\n    source: {{kind: file, path: {not_video}}}\n"
        "  - id: CAM2\n    source:\n      kind: rtsp\n"
        "      url: rtsp://admin:${VIGIA_FAULTS_UNSET}@10.0.0.2/s1\n"
        "      stall_timeot: 5\n",
        model=fault_site.folder,
    )
    result = subprocess.run(
        fault_site.command("--no-dashboard"), cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    config = fault_site.config
    assert (
        f"{config}:13 cameras[1].source.stall_timeot: unknown key (did you mean " in result.stderr
    )
    assert not fault_site.run_dir.exists()
    fixed = config.read_text().replace("      stall_timeot: 5\n", "")
    config.write_text(fixed)
    result = subprocess.run(
        fault_site.command("--no-dashboard"), cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    problems = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert problems == [
        f"{config}:3 model.path: {fault_site.folder}: is a directory, not a model file",
        f"{config}:8 cameras[0].source.path: {not_video}: cannot be decoded as a video"
        + problems[1].split("cannot be decoded as a video", 1)[1],
        f"{config}:12 cameras[1].source.url: environment variable VIGIA_FAULTS_UNSET is not "
        "set (used as ${VIGIA_FAULTS_UNSET}); export it in the environment that starts vigia",
    ]
    assert not fault_site.run_dir.exists()
