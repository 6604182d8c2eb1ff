"""write_video: an MP4 that OpenCV reads back, and a truth sidecar equal to the scene's."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from pipeline.synthetic import FrameTruth, WorksiteScene
from pipeline.synthetic.video import main, truth_path, write_video


def test_video_and_sidecar_match_the_scene(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    sidecar = write_video(path, seed=3, frames=12, width=320, height=180, fps=10.0)
    assert sidecar == truth_path(path)
    capture = cv2.VideoCapture(str(path))
    decoded = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.shape == (180, 320, 3)
        decoded += 1
    capture.release()
    assert decoded == 12
    lines = sidecar.read_text().splitlines()
    assert len(lines) == 12
    scene = WorksiteScene(seed=3, width=320, height=180, fps=10.0)
    for index in (0, 7, 11):
        recorded = FrameTruth.from_dict(json.loads(lines[index]))
        expected = scene.render(index)[1]
        assert recorded.index == index
        assert [w.id for w in recorded.workers] == [w.id for w in expected.workers]


def test_command_line_writes_the_clip(tmp_path: Path) -> None:
    path = tmp_path / "cli.mp4"
    assert main([str(path), "--seed", "2", "--frames", "5", "--size", "160x90", "--fps", "5"]) == 0
    assert path.stat().st_size > 0
    assert len(truth_path(path).read_text().splitlines()) == 5
