"""End to end: real processes, shared memory, ONNX Runtime, the demo model, synthetic cameras."""

from __future__ import annotations

import re
import time
from collections import defaultdict

import cv2
import numpy as np

from pipeline.synthetic import WorksiteScene
from tests.e2e.conftest import LOG_LINE, SCENES, SiteRun, wait_for


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) against boxes (N, 4), all x1, y1, x2, y2."""
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    return inter / np.maximum(union, 1e-9)


def person_recall(lines: list[dict]) -> tuple[int, int]:
    """(matched, visible) ground-truth persons over all logged frames, IoU >= 0.5."""
    scenes = {
        camera: WorksiteScene(seed=s, width=w, height=h, fps=f)
        for camera, (s, w, h, f) in SCENES.items()
    }
    matched = visible = 0
    for line in lines:
        _, truth = scenes[line["camera"]].render(line["frame_index"])
        predicted = np.array(
            [d["box"] for d in line["detections"] if d["class"] == "person"], dtype=np.float32
        ).reshape(-1, 4)
        used = np.zeros(len(predicted), dtype=bool)
        for worker in truth.workers:
            _, y1, _, y2 = worker.person_box
            if worker.visibility < 0.6 or y2 - y1 < 24:
                continue  # mostly hidden or tiny: not a fair test of a small demo model
            visible += 1
            if len(predicted):
                ious = np.where(
                    used, 0.0, box_iou(np.array(worker.person_box, np.float32), predicted)
                )
                best = int(np.argmax(ious))
                if ious[best] >= 0.5:
                    used[best] = True
                    matched += 1
    return matched, visible


def test_site_runs_end_to_end(site_run: SiteRun):
    def enough() -> bool:
        counts = defaultdict(int)
        for line in site_run.detections():
            counts[line["camera"]] += 1
        return len(counts) == 2 and min(counts.values()) >= 10

    with site_run.running(duration=120) as process:
        wait_for(enough, 90, "10 answered frames per camera")
        site_run.interrupt(process)

    lines = site_run.detections()
    per_camera = defaultdict(list)
    for line in lines:
        per_camera[line["camera"]].append(line)
    assert set(per_camera) == {"CAM1", "CAM2"}
    assert all(len(camera_lines) >= 10 for camera_lines in per_camera.values()), {
        camera: len(camera_lines) for camera, camera_lines in per_camera.items()
    }

    matched, visible = person_recall(lines)
    assert visible > 20
    assert matched / visible >= 0.8, f"person recall {matched}/{visible}"

    for camera in ("CAM1", "CAM2"):
        (segment,) = (site_run.run_dir / "recordings" / camera).glob("*.mp4")
        capture = cv2.VideoCapture(str(segment))
        ok, frame = capture.read()
        assert ok and frame is not None
        assert capture.get(cv2.CAP_PROP_FRAME_COUNT) >= 10
        expected = SCENES[camera][1:3]
        assert (frame.shape[1], frame.shape[0]) == expected  # full resolution, not the model input

    log = site_run.log_lines
    assert log and all(LOG_LINE.match(line) for line in log), [
        x for x in log if not LOG_LINE.match(x)
    ][:3]
    assert any("[CAM1] [INFO] Camera Worker started" in line for line in log)
    assert any("[INFERENCE] [INFO] Model ready" in line for line in log)
    assert site_run.leftover_segments() == []


def test_killed_camera_is_restarted_and_the_other_keeps_being_answered(site_run: SiteRun):
    with site_run.running(duration=180) as process:
        wait_for(lambda: len(site_run.done_times("CAM2")) >= 16, 60, "CAM2 to process frames")
        killed_at = site_run.kill_and_await_restart("CAM2")
        wait_for(
            lambda: (
                len([t for t in site_run.done_times("CAM2") if t > killed_at + 0.5]) >= 5
                and time.time() > killed_at + 3.5
            ),
            60,
            "CAM2 back at work",
        )
        site_run.interrupt(process)

    log = "\n".join(site_run.log_lines)
    assert "[SUPERVISOR] [ERROR] CAM2: process was killed by SIGKILL" in log
    assert re.search(r"\[SUPERVISOR\] \[INFO\] CAM2: restarted \(pid \d+, restart 1\)", log)
    assert len([t for t in site_run.done_times("CAM2") if t > killed_at + 0.5]) >= 5  # back at work

    # CAM1 never waits on CAM2: it keeps getting answers through every second after the kill
    # (its rate is a benchmark's business), and its own process is never touched.
    cam1 = np.array(site_run.done_times("CAM1"))
    assert len(cam1[(cam1 > killed_at - 3) & (cam1 <= killed_at)]) > 0
    for second in range(3):
        start = killed_at + second
        answered = cam1[(cam1 > start) & (cam1 <= start + 1)]
        assert len(answered) > 0, f"CAM1 got no answer {second}-{second + 1} s after the kill"
    assert "CAM1: process was killed" not in log and "CAM1: restarted" not in log

    # The killed life's segment stays beside the new one (what a kill leaves playable is
    # tests/camera/test_recording.py's business: here the kill may come within its first
    # fragment); the new one is finalized and plays.
    segments = sorted(
        (site_run.run_dir / "recordings" / "CAM2").glob("*.mp4"), key=lambda p: p.stat().st_mtime
    )
    assert len(segments) == 2, segments
    assert cv2.VideoCapture(str(segments[-1])).read()[0], segments[-1]
    assert site_run.leftover_segments() == []
