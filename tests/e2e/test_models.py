"""Two models of different input sizes and preprocessing in one site: each reads its own ring
view (a letterboxed 320x320 YOLO, a stretched 256x256 RT-DETR), runs on every batch, and its
boxes come back in the camera's pixels with their own class ids and model index."""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e.conftest import SiteRun, wait_for
from tests.infer.onnx_models import ULTRALYTICS_YOLO, constant_detector, yolo_output

SITE = """\
site: {site}
output_dir: {run_dir}
models:
  - name: people
    path: {yolo}
    classes: [person]
  - name: hats
    path: {rtdetr}
    class_names: [hard hat, head]
compliance: {{default_require: [helmet]}}  # no model here finds vests
inference: {{max_batch: 2, max_wait_ms: 20}}
recording: {{enabled: false}}
cameras:
  - id: CAM1
    source: {{kind: synthetic, seed: 30001, width: 640, height: 360, fps: 8}}
  - id: CAM2
    source: {{kind: synthetic, seed: 30002, width: 640, height: 360, fps: 8}}
"""


@pytest.fixture
def two_model_site(site_run: SiteRun, tmp_path) -> SiteRun:
    # YOLO, 320x320 letterboxed: a person at cx=100, cy=160, 40x80, and a helmet the site
    # drops (classes: [person]). 640x360 -> 320x180, padded 70 px above and below.
    yolo = constant_detector(
        tmp_path / "people.onnx",
        {"output0": yolo_output([(100, 160, 40, 80, 0, 0.9), (200, 160, 20, 20, 1, 0.9)], 3)},
        ("batch", 3, 320, 320),
        ULTRALYTICS_YOLO,
    )
    # Ultralytics RT-DETR (B, 300, 6), 256x256 stretched: cx, cy, w, h normalised, score, class.
    queries = np.zeros((1, 300, 6), np.float32)
    queries[0, 0] = (0.5, 0.5, 0.25, 0.5, 0.8, 1)  # a `head`
    rtdetr = constant_detector(
        tmp_path / "hats.onnx",
        {"output0": queries},
        ("batch", 3, 256, 256),
        {"head": "RTDETRDecoder", "version": "8.4.190"},
    )
    site_run.config.write_text(
        SITE.format(site=site_run.site, run_dir=site_run.run_dir, yolo=yolo, rtdetr=rtdetr)
    )
    return site_run


def test_each_model_answers_in_the_camera_frame(two_model_site: SiteRun):
    def answered() -> bool:
        return {line["camera"] for line in two_model_site.detections()} == {"CAM1", "CAM2"}

    with two_model_site.running(duration=120) as process:
        wait_for(answered, 90, "both cameras answered")
        two_model_site.interrupt(process)
    lines = two_model_site.detections()
    assert {line["camera"] for line in lines} == {"CAM1", "CAM2"}
    for line in lines:
        found = sorted(line["detections"], key=lambda d: d["model"])
        assert [(d["model"], d["class"]) for d in found] == [("hats", "head"), ("people", "person")]
        hats, people = found
        # 256x256 stretched back to 640x360: x * 2.5, y * 1.40625.
        np.testing.assert_allclose(hats["box"], [240, 90, 400, 270], atol=0.1)
        # 320x320 letterboxed back: x / 0.5, (y - 70) / 0.5.
        np.testing.assert_allclose(people["box"], [160, 100, 240, 260], atol=0.1)
        assert (hats["score"], people["score"]) == (0.8, 0.9)
    log = "\n".join(two_model_site.log_lines)
    assert "Shared memory ready: 7 segments (320x320 letterboxed, 256x256 stretched)" in log
    assert "Model ready: people: people.onnx, yolo layout, 320x320 letterbox" in log
    assert "Model ready: hats: hats.onnx, rtdetr layout, 256x256 stretch" in log
    assert two_model_site.leftover_segments() == []
