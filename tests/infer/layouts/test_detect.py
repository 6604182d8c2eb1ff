"""Layouts told from model descriptions as real exports have them."""

import pytest

from pipeline.infer.layouts import (
    LAYOUT_METADATA_KEY,
    PREPROCESSING_METADATA_KEY,
    Layout,
    Preprocessing,
    detect_layout,
)
from tests.infer.layouts.descriptions import (
    DYNAMIC_IMAGES,
    EFFICIENT_NMS_OUTPUTS,
    FIXED_IMAGES,
    NAMES2,
    NAMES3,
    NAMES80,
    NMS_ARGS,
    ORIGINAL_RTDETR_INPUTS,
    ORIGINAL_RTDETR_OUTPUTS,
    PLAIN_ARGS,
    ultralytics,
)

DETECTED = [
    pytest.param(
        DYNAMIC_IMAGES,
        [("output0", ["batch", "Concatoutput0_dim_1", "anchors"])],
        ultralytics("Detect", end2end="False"),
        {},
        (Layout.YOLO, 80, Preprocessing.LETTERBOX, False),
        id="yolo11-dynamic-symbolic-class-axis",
    ),
    pytest.param(
        FIXED_IMAGES,
        [("output0", [4, 84, 8400])],
        ultralytics("Detect", args=PLAIN_ARGS),
        {},
        (Layout.YOLO, 80, Preprocessing.LETTERBOX, False),
        id="yolo-fixed-batch-4",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 84, 8400])],
        ultralytics(description="Ultralytics YOLOv8s model trained on coco.yaml"),
        {},
        (Layout.YOLO, 80, Preprocessing.LETTERBOX, False),
        id="yolov8-older-exporter-without-head",
    ),
    pytest.param(
        [("images", ["batch", 3, 320, 320])],
        [("output0", ["batch", 7, 8500])],
        {"names": NAMES3, "imgsz": "[320, 320]", "description": "a PPE detector"},
        {},
        (Layout.YOLO, 3, Preprocessing.LETTERBOX, False),
        id="project-demo-detector-no-head",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 7, 8400])],
        {},
        {"num_classes": 3},
        (Layout.YOLO, 3, Preprocessing.LETTERBOX, False),
        id="class-names-from-the-site-file",
    ),
    pytest.param(
        DYNAMIC_IMAGES,
        [("output0", ["batch", 300, 6])],
        ultralytics("RTDETRDecoder", description="Ultralytics rtdetr-l model"),
        {},
        (Layout.RTDETR, 80, Preprocessing.STRETCH, False),
        id="rtdetr-ultralytics-8.4",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 84])],
        ultralytics(description="Ultralytics rtdetr-l model trained on coco.yaml"),
        {},
        (Layout.RTDETR, 80, Preprocessing.STRETCH, True),
        id="rtdetr-older-per-class-scores",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 6])],
        ultralytics("RTDETRDecoder", names=NAMES2, version="8.4.190"),
        {},
        (Layout.RTDETR, 2, Preprocessing.STRETCH, False),
        id="rtdetr-two-classes-recent-exporter",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 6])],
        ultralytics("RTDETRDecoder", names=NAMES2),
        {"configured": Layout.RTDETR},
        (Layout.RTDETR, 2, Preprocessing.STRETCH, False),
        id="rtdetr-two-classes-configured",
    ),
    pytest.param(
        DYNAMIC_IMAGES,
        [("output0", ["batch", 300, 6])],
        ultralytics("Detect", args=NMS_ARGS),
        {},
        (Layout.END2END, 80, Preprocessing.LETTERBOX, False),
        id="yolo-nms-true-export",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 6])],
        {"names": NAMES80, "args": NMS_ARGS},
        {},
        (Layout.END2END, 80, Preprocessing.LETTERBOX, False),
        id="nms-true-export-without-head",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 6])],
        ultralytics("Detect", end2end="True", description="Ultralytics YOLO26n model"),
        {},
        (Layout.END2END, 80, Preprocessing.LETTERBOX, False),
        id="yolo26-end2end",
    ),
    pytest.param(
        [("images", ["batch", 3, 640, 640])],
        EFFICIENT_NMS_OUTPUTS,
        {"names": NAMES3},
        {},
        (Layout.EFFICIENT_NMS, 3, Preprocessing.LETTERBOX, False),
        id="efficient-nms-det-names",
    ),
    pytest.param(
        [("images", [2, 3, 640, 640])],
        [
            ("num_detections", [2, 1]),
            ("detection_boxes", [2, 100, 4]),
            ("detection_scores", [2, 100]),
            ("detection_classes", [2, 100]),
        ],
        {},
        {},
        (Layout.EFFICIENT_NMS, None, Preprocessing.LETTERBOX, False),
        id="efficient-nms-plugin-names",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("count", [1, 1]), ("b", [1, 50, 4]), ("s", [1, 50]), ("c", [1, 50])],
        {},
        {"configured": Layout.EFFICIENT_NMS},
        (Layout.EFFICIENT_NMS, None, Preprocessing.LETTERBOX, False),
        id="efficient-nms-configured-by-output-order",
    ),
    pytest.param(
        ORIGINAL_RTDETR_INPUTS,
        ORIGINAL_RTDETR_OUTPUTS,
        {},
        {"num_classes": 80},
        (Layout.RTDETR_ORIGINAL, 80, Preprocessing.STRETCH, False),
        id="rtdetr-original-repository",
    ),
    pytest.param(
        [("images", ["batch", 3, 160, 160])],
        [("output0", ["batch", 7, "anchors"])],
        {"vigia_classes": '["person", "helmet", "vest"]', LAYOUT_METADATA_KEY: "yolo"},
        {},
        (Layout.YOLO, 3, Preprocessing.LETTERBOX, False),
        id="names-from-the-project-exporter",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 84, 8400])],
        {},
        {"configured": Layout.YOLO},
        (Layout.YOLO, 80, Preprocessing.LETTERBOX, False),
        id="configured-yolo-without-metadata",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 84, 8400])],
        ultralytics("Detect"),
        {"preprocessing": Preprocessing.STRETCH},
        (Layout.YOLO, 80, Preprocessing.STRETCH, False),
        id="configured-preprocessing-wins",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 6])],
        {
            "names": NAMES3,
            LAYOUT_METADATA_KEY: "end2end",
            PREPROCESSING_METADATA_KEY: "stretch",
        },
        {},
        (Layout.END2END, 3, Preprocessing.STRETCH, False),
        id="declared-by-the-project-exporter",
    ),
]


@pytest.mark.parametrize(("inputs", "outputs", "metadata", "options", "expected"), DETECTED)
def test_detects(inputs, outputs, metadata, options, expected):
    info = detect_layout(inputs, outputs, metadata, **options)
    layout = expected[0]
    assert (info.layout, info.num_classes, info.preprocessing, info.class_scores) == expected
    assert info.image_input == "images"
    assert info.normalised_boxes is (layout is Layout.RTDETR)
    assert info.reason
    assert set(info.outputs) <= {name for name, _ in outputs}
    assert (info.size_input is not None) is (layout is Layout.RTDETR_ORIGINAL)


def test_efficient_nms_outputs_in_role_order():
    shuffled = [EFFICIENT_NMS_OUTPUTS[i] for i in (2, 0, 3, 1)]
    info = detect_layout([("images", [1, 3, 640, 640])], shuffled, {})
    assert info.outputs == ("num_dets", "det_boxes", "det_scores", "det_classes")
