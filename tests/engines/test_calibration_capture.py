"""INT8 calibration frames captured from the site's own cameras: read through the pipeline's
sources (the synthetic worksite, a video file), spread over the stream's time, written whole
or not at all, kept until the cameras change, and versioned like a folder of frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engines.calibration import CalibrationError, cached_frames
from engines.calibration_capture import (
    capture_folder,
    capture_frames,
    ready_frames_folder,
    spread_frames,
)
from engines.checking import calibration_identity, target_verdict
from engines.manifest import file_sha256, write_manifest
from engines.staleness import StaleReason
from engines.targets import site_targets
from pipeline.config.backends import CalibrationCapture
from pipeline.config.sources import CameraConfig
from tests.engines.sites import DEMO_MODEL, H200, site
from tests.supervisor.videos import tiny_video


class Steps:
    """A BuildProgress that records what it hears."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None:
        self.calls.append(("start", phase, str(steps)))

    def step_complete(self, phase: str, step: int) -> None:
        self.calls.append(("step", str(step)))

    def phase_finish(self, phase: str) -> None:
        self.calls.append(("finish", phase))


def synthetic(camera_id: str = "CAM1", seed: int = 3) -> CameraConfig:
    source = {"kind": "synthetic", "seed": seed, "width": 96, "height": 64, "fps": 10}
    return CameraConfig.model_validate({"id": camera_id, "source": source})


def video_camera(path, loop: bool = True) -> CameraConfig:
    source = {"kind": "file", "path": str(path), "loop": loop}
    return CameraConfig.model_validate({"id": "CAM2", "source": source})


def test_frames_are_spread_over_the_streams_time():
    """10 fps synthetic scene, 8 frames over 1.4 s: one every 0.2 s, so every second frame."""
    settings = CalibrationCapture(per_camera=8, spread_s=1.4)
    frames = spread_frames(synthetic(), settings)
    assert len(frames) == 8 and frames[0].shape == (64, 96, 3) and frames[0].dtype == np.uint8
    from pipeline.synthetic import WorksiteScene

    scene = WorksiteScene(seed=3, width=96, height=64, fps=10)
    for kept, index in ((0, 0), (1, 2), (7, 14)):
        np.testing.assert_array_equal(frames[kept], scene.render(index)[0])


def test_a_short_video_loops_and_one_that_ends_gives_what_it_had(tmp_path):
    video = tiny_video(tmp_path / "cam.mp4", frames=5, size=(64, 48))  # 10 fps: 0.5 s
    settings = CalibrationCapture(per_camera=8, spread_s=0.7)
    looped = spread_frames(video_camera(video), settings)
    assert len(looped) == 8 and looped[0].shape == (48, 64, 3)
    ended = spread_frames(video_camera(video, loop=False), settings)
    assert len(ended) == 5  # one every 0.1 s until the file ended


def test_a_camera_that_cannot_be_read_is_named(tmp_path):
    missing = video_camera(tmp_path / "absent.mp4")
    with pytest.raises(CalibrationError, match=r"camera CAM2 \(.*absent\.mp4\): .*not found"):
        spread_frames(missing, CalibrationCapture())


def test_the_capture_is_written_whole_with_progress(tmp_path):
    video = tiny_video(tmp_path / "cam.mp4", frames=5)
    cameras = (synthetic(), video_camera(video))
    settings = CalibrationCapture(per_camera=8, spread_s=0.7)
    folder = capture_folder(tmp_path / "engines", cameras, settings)
    steps = Steps()
    capture_frames(cameras, settings, folder, steps)
    assert sorted(path.parent.name for path in folder.rglob("*.jpg")) == ["CAM1"] * 8 + ["CAM2"] * 8
    assert steps.calls[0] == ("start", "Calibration frames from the cameras", "16")
    assert steps.calls[1:-1] == [("step", str(step)) for step in range(16)]
    assert steps.calls[-1] == ("finish", "Calibration frames from the cameras")
    assert cv2.imread(str(next(folder.rglob("*.jpg")))).shape == (64, 96, 3)


def test_a_failed_capture_leaves_no_folder(tmp_path):
    cameras = (synthetic(), video_camera(tmp_path / "absent.mp4"))
    folder = tmp_path / "engines" / "calibration" / "cameras-x"
    with pytest.raises(CalibrationError):
        capture_frames(cameras, CalibrationCapture(per_camera=8, spread_s=0.7), folder)
    assert not folder.exists() and not folder.with_name("cameras-x.partial").exists()


def test_the_capture_is_named_after_the_cameras_and_settings(tmp_path):
    engines = tmp_path / "engines"
    settings = CalibrationCapture()
    base = capture_folder(engines, (synthetic(),), settings)
    assert base == capture_folder(engines, (synthetic(),), settings)
    assert base.parent == engines / "calibration" and base.name.startswith("cameras-")
    assert capture_folder(engines, (synthetic(seed=4),), settings) != base
    assert capture_folder(engines, (synthetic("CAM9"),), settings) != base
    assert capture_folder(engines, (synthetic(),), CalibrationCapture(per_camera=16)) != base
    assert capture_folder(engines, (synthetic(), synthetic("CAM2")), settings) != base


def test_int8_without_a_folder_captures_once_and_versions_the_set(tmp_path):
    """The site names no folder: the verdict says the frames are still to be captured, the
    build captures them (once) and the engine built from them stays up to date."""
    engines = tmp_path / "engines"
    tensorrt = {
        "engine_dir": str(engines),
        "precision": "int8",
        "calibration_capture": {"per_camera": 8, "spread_s": 0.7},
    }
    config = site([{"path": str(DEMO_MODEL), "backend": "tensorrt"}], tensorrt)
    (target,) = site_targets(config)
    assert target.settings.calibration_frames is None
    pending = calibration_identity(target)
    assert pending is not None and pending.endswith("(not captured yet)")

    engines.mkdir()
    target.engine.write_bytes(b"serialized engine stand-in")
    route = "int8: Q/DQ ONNX from ModelOpt, FP16 elsewhere"
    old = target.manifest_for(H200, file_sha256(DEMO_MODEL), "0123456789abcdef", route, "t", 1)
    write_manifest(target.manifest, old)
    (stale,) = target_verdict(target, H200).reasons
    assert stale.reason is StaleReason.CALIBRATION_CHANGED and "not captured yet" in stale.detail

    folder = ready_frames_folder(target, None)
    identity = calibration_identity(target)
    assert identity is not None and len(identity) == 16
    size = (target.spec.input_width, target.spec.input_height)
    cached_identity, frames = cached_frames(
        engines, "ppe-demo", folder, 256, size, target.spec.stretch
    )
    assert cached_identity == identity and frames.shape == (8, size[1], size[0], 3)
    stamp = next(folder.rglob("*.jpg")).stat().st_mtime_ns
    assert ready_frames_folder(target, None) == folder  # kept: not captured again
    assert next(folder.rglob("*.jpg")).stat().st_mtime_ns == stamp
    built = target.manifest_for(H200, file_sha256(DEMO_MODEL), identity, route, "t", 1)
    write_manifest(target.manifest, built)
    assert target_verdict(target, H200).up_to_date
