"""Real Ultralytics exports (yolo11n, yolov8s, rtdetr-l, yolov8s-worldv2; dynamic, fixed batch
1 and 4, nms=True), as users make them and with the project's metadata: read by the one spec
reader, run by the ONNX Runtime backend at batches the file allows and the site asks for,
decoded by the layouts, and run two at a time in a 2-camera site.

Once, these were refused (`expected input (B, 3, H, W) with fixed H, W`), crash-looped (a
fixed batch of 4 given 2 images) or decoded as nonsense (`"class":"class99","score":704.88`).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config.backends import OnnxRuntimeConfig
from pipeline.config.models import ModelConfig
from pipeline.infer.backends.onnxruntime import OnnxRuntimeBackend
from pipeline.infer.layouts import Layout, Preprocessing, decode
from pipeline.infer.letterbox import Letterbox
from pipeline.infer.model_spec import read_model_spec
from pipeline.synthetic import WorksiteScene
from tests.e2e.conftest import SiteRun, wait_for
from tests.export.ultralytics.exports import BUILD_TIMEOUT_S, UltralyticsExports

# (model, variant): layout, preprocessing, fixed batch, most images per call
EXPECTED = {
    ("yolo11n", "dynamic"): (Layout.YOLO, Preprocessing.LETTERBOX, None, None),
    ("yolo11n", "batch1"): (Layout.YOLO, Preprocessing.LETTERBOX, 1, 1),
    ("yolo11n", "batch4"): (Layout.YOLO, Preprocessing.LETTERBOX, 4, 4),
    ("yolo11n", "nms"): (Layout.END2END, Preprocessing.LETTERBOX, None, 4),
    ("yolov8s", "dynamic"): (Layout.YOLO, Preprocessing.LETTERBOX, None, None),
    ("yolov8s", "batch4"): (Layout.YOLO, Preprocessing.LETTERBOX, 4, 4),
    ("yolov8s", "nms"): (Layout.END2END, Preprocessing.LETTERBOX, None, 4),
    ("rtdetr-l", "dynamic"): (Layout.RTDETR, Preprocessing.STRETCH, None, None),
    ("rtdetr-l", "batch1"): (Layout.RTDETR, Preprocessing.STRETCH, 1, 1),
    ("rtdetr-l", "batch4"): (Layout.RTDETR, Preprocessing.STRETCH, 4, 4),
    ("yolov8s-worldv2", "dynamic"): (Layout.YOLO, Preprocessing.LETTERBOX, None, None),
    ("yolov8s-worldv2", "nms"): (Layout.END2END, Preprocessing.LETTERBOX, None, 4),
}
SIZE = 160  # the fixture's export size


def frames(count: int, spec) -> tuple[np.ndarray, list[Letterbox]]:
    scene = WorksiteScene(seed=30007, width=640, height=360)
    resize = Letterbox.stretch if spec.stretch else Letterbox.fit
    letterbox = resize(640, 360, spec.input_width, spec.input_height)
    images = np.stack([letterbox.apply(scene.render(i * 5)[0]) for i in range(count)])
    return images, [letterbox] * count


@pytest.mark.timeout(BUILD_TIMEOUT_S)
@pytest.mark.parametrize("ultralytics_metadata_only", [False, True])
@pytest.mark.parametrize(("model", "variant"), sorted(EXPECTED))
def test_each_export_is_read_run_and_decoded(
    ultralytics_exports: UltralyticsExports, model, variant, ultralytics_metadata_only
):
    path = ultralytics_exports.onnx(model, variant, vigia_metadata=not ultralytics_metadata_only)
    config = ModelConfig(path=path, conf_threshold=0.25)
    spec = read_model_spec(config)
    layout, preprocessing, batch, max_batch = EXPECTED[(model, variant)]
    assert (spec.layout.layout, spec.layout.preprocessing) == (layout, preprocessing)
    assert (spec.input_width, spec.input_height, spec.batch, spec.max_batch) == (
        SIZE,
        SIZE,
        batch,
        max_batch,
    )
    names = 3 if "world" in model else 80
    assert len(spec.class_names) == names
    backend = OnnxRuntimeBackend(config, spec, OnnxRuntimeConfig(), max_batch=6)
    images, letterboxes = frames(6, spec)
    outputs = backend.infer(images)  # more images than a fixed or NMS batch: run in chunks
    content = [(b.pad_x, b.pad_y, b.pad_x + b.new_w, b.pad_y + b.new_h) for b in letterboxes]
    decoded = decode(spec.layout, outputs, 0.25, 0.5, 100, input_size=(SIZE, SIZE), content=content)
    assert len(decoded) == 6
    found = sum(len(detections) for detections in decoded)
    assert found > 0, "the fixture's woken weights score above 0.25 somewhere"
    for detections, (x1, y1, x2, y2) in zip(decoded, content, strict=True):
        assert (detections.score >= 0.25).all() and (detections.score <= 1.0).all()
        assert ((detections.class_id >= 0) & (detections.class_id < names)).all()
        assert (detections.area > 0).all()
        boxes = detections.xyxy
        assert (boxes[:, [0, 2]] >= x1 - 1e-3).all() and (boxes[:, [0, 2]] <= x2 + 1e-3).all()
        assert (boxes[:, [1, 3]] >= y1 - 1e-3).all() and (boxes[:, [1, 3]] <= y2 + 1e-3).all()
    backend.close()


SITE = """\
site: {site}
output_dir: {run_dir}
models:
  - name: people
    path: {people}
    classes: ['0']          # COCO's person, in a file built from a .yaml (names '0'..'79')
    conf_threshold: 0.25
  - name: ppe
    path: {ppe}
    conf_threshold: 0.25
compliance: {{frame_zone: false}}
inference: {{max_batch: 2, max_wait_ms: 20}}
recording: {{enabled: false}}
cameras:
  - id: CAM1
    source: {{kind: synthetic, seed: 30001, width: 640, height: 360, fps: 5}}
  - id: CAM2
    source: {{kind: synthetic, seed: 30002, width: 480, height: 640, fps: 5}}
"""


@pytest.mark.timeout(BUILD_TIMEOUT_S)
@pytest.mark.parametrize(
    ("people", "ppe"),
    [
        (("rtdetr-l", "dynamic"), ("yolov8s-worldv2", "dynamic")),
        (("yolo11n", "batch4"), ("yolov8s", "nms")),
        (("rtdetr-l", "batch1"), ("yolov8s-worldv2", "nms")),
    ],
)
def test_two_real_exports_in_a_two_camera_site(
    ultralytics_exports: UltralyticsExports, site_run: SiteRun, people, ppe
):
    site_run.config.write_text(
        SITE.format(
            site=site_run.site,
            run_dir=site_run.run_dir,
            people=ultralytics_exports.onnx(*people),
            ppe=ultralytics_exports.onnx(*ppe),
        )
    )

    def answered() -> bool:
        lines = site_run.detections()
        models = {d["model"] for line in lines for d in line["detections"]}
        return {line["camera"] for line in lines} == {"CAM1", "CAM2"} and len(models) == 2

    with site_run.running(duration=120) as process:
        wait_for(answered, 90, "both cameras answered by both models")
        site_run.interrupt(process)
    lines = site_run.detections()
    assert all(
        d["class"] == "0" for line in lines for d in line["detections"] if d["model"] == "people"
    )
    log = "\n".join(site_run.log_lines)
    assert "[INFERENCE] [INFO] Models ready: 2 on 2 loaded backend(s)" in log
    assert "Traceback" not in log
    assert site_run.leftover_segments() == []
