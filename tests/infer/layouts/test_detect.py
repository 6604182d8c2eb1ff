"""Layouts told from model descriptions as real exports have them, and refusals that say why.

Shapes and metadata follow shared/FACTS.md (ultralytics 8.4 exports of yolo11n, yolov8s,
rtdetr-l), the EfficientNMS plugin's outputs and RT-DETR's own export.
"""

import pytest

from pipeline.infer.layouts import (
    LAYOUT_METADATA_KEY,
    PREPROCESSING_METADATA_KEY,
    Layout,
    LayoutError,
    Preprocessing,
    detect_layout,
)

NAMES80 = str({i: str(i) for i in range(80)})  # a model built from a .yaml: '0'..'79'
NAMES3 = "{0: 'person', 1: 'helmet', 2: 'vest'}"
NAMES2 = "{0: 'person', 1: 'helmet'}"
DYNAMIC_IMAGES = [("images", ["batch", 3, "height", "width"])]
FIXED_IMAGES = [("images", [4, 3, 640, 640])]


def ultralytics(head=None, names=NAMES80, **extra):
    metadata = {
        "description": "Ultralytics YOLO11n model",
        "author": "Ultralytics",
        "task": "detect",
        "imgsz": "[640, 640]",
        "stride": "32",
        "names": names,
    }
    if head is not None:
        metadata["head"] = head
    metadata.update(extra)
    return metadata


NMS_ARGS = "{'batch': 4, 'dynamic': True, 'half': False, 'opset': None, 'nms': True}"
PLAIN_ARGS = "{'batch': 1, 'dynamic': False, 'half': False, 'opset': None, 'nms': False}"
EFFICIENT_NMS_OUTPUTS = [
    ("num_dets", ["batch", 1]),
    ("det_boxes", ["batch", 100, 4]),
    ("det_scores", ["batch", 100]),
    ("det_classes", ["batch", 100]),
]
ORIGINAL_RTDETR_INPUTS = [("images", ["N", 3, 640, 640]), ("orig_target_sizes", ["N", 2])]
ORIGINAL_RTDETR_OUTPUTS = [
    ("labels", ["N", 300]),
    ("boxes", ["N", 300, 4]),
    ("scores", ["N", 300]),
]

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


REFUSED = [
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 6])],
        {"names": NAMES80},
        {},
        "no metadata (head, end2end, nms) tells which",
        id="b300x6-without-metadata-is-ambiguous",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 6])],
        {},
        {},
        "reads as end2end",
        id="b300x6-without-names-is-not-decoded-as-nonsense",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 84, 8400])],
        {},
        {},
        "no class names",
        id="no-names-no-head",
    ),
    pytest.param(
        DYNAMIC_IMAGES,
        [("output0", ["batch", 300, 6])],
        ultralytics("RTDETRDecoder"),
        {"configured": Layout.YOLO},
        "is an RT-DETR output (metadata head 'RTDETRDecoder')",
        id="configured-yolo-contradicts-rtdetr-head",
    ),
    pytest.param(
        DYNAMIC_IMAGES,
        [("output0", ["batch", 300, 6])],
        ultralytics("RTDETRDecoder"),
        {"configured": Layout.END2END},
        "an RT-DETR output, not end2end",
        id="configured-end2end-contradicts-rtdetr-head",
    ),
    pytest.param(
        DYNAMIC_IMAGES,
        [("output0", ["batch", 300, 6])],
        ultralytics("Detect", args=NMS_ARGS),
        {"configured": Layout.RTDETR},
        "is a YOLO output",
        id="configured-rtdetr-contradicts-detect-head",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        EFFICIENT_NMS_OUTPUTS,
        {},
        {"configured": Layout.YOLO},
        "`layout: yolo` does not fit this model",
        id="configured-yolo-on-efficient-nms-outputs",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 84, 8400])],
        ultralytics("Detect"),
        {"configured": Layout.EFFICIENT_NMS},
        "needs several outputs",
        id="configured-efficient-nms-on-one-output",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 7, 8400])],
        ultralytics("Detect"),
        {},
        "3 class rows but 80 class names",
        id="class-rows-disagree-with-names",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 6])],
        ultralytics("RTDETRDecoder", names=NAMES2),
        {},
        "set `layout: rtdetr`",
        id="rtdetr-two-classes-old-or-new-form",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 50])],
        ultralytics("RTDETRDecoder"),
        {},
        "has 50 for 80 class names",
        id="rtdetr-columns-disagree-with-names",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        ORIGINAL_RTDETR_OUTPUTS,
        {},
        {},
        "no such input",
        id="rtdetr-original-without-size-input",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640]), ("txt_feats", [1, 80, 512])],
        [("output0", [1, 84, 8400])],
        ultralytics("Detect"),
        {},
        "does not feed (txt_feats)",
        id="unfed-extra-input",
    ),
    pytest.param(
        [("left", [1, 3, 640, 640]), ("right", [1, 3, 640, 640])],
        [("output0", [1, 84, 8400])],
        ultralytics("Detect"),
        {},
        "found 2 four-dimensional inputs",
        id="two-image-inputs",
    ),
    pytest.param(
        [("images", [1, 3, 224, 224])],
        [("output0", [1, 1000])],
        {"names": NAMES3},
        {},
        "has 2 dimensions",
        id="classifier-output",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 56, 8400])],
        ultralytics("Pose", names="{0: 'person'}", task="pose"),
        {},
        "task 'pose': only detectors run",
        id="pose-model",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 6])],
        {},
        {"configured": Layout.YOLO},
        "(B, K, 6) is an end2end or rtdetr output, not yolo",
        id="configured-yolo-on-six-columns",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 116, 8400]), ("output1", [1, 32, 160, 160])],
        ultralytics("Segment", task="segment"),
        {},
        "task 'segment'",
        id="segmentation-outputs",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("boxes", [1, 8400, 4]), ("scores", [1, 8400, 80])],
        {"names": NAMES80},
        {},
        "2 outputs match no multi-output layout by name",
        id="unknown-two-output-layout",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [
            ("num_dets", [1, 1]),
            ("det_boxes", [1, 100]),
            ("det_scores", [1, 100]),
            ("det_classes", [1, 100]),
        ],
        {},
        {},
        "EfficientNMS outputs need",
        id="efficient-nms-wrong-shapes",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 84, 8400])],
        {"names": "person, helmet"},
        {},
        "'names' is not a dict or list literal",
        id="unreadable-names",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 84, 8400])],
        {LAYOUT_METADATA_KEY: "yolov5"},
        {},
        "expected one of: yolo, end2end",
        id="declared-layout-unknown",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 300, 6])],
        {LAYOUT_METADATA_KEY: "end2end", "names": NAMES80},
        {"configured": Layout.RTDETR},
        "metadata declares end2end",
        id="configured-contradicts-declared",
    ),
    pytest.param(
        [("images", [1, 3, 640, 640])],
        [("output0", [1, 84, 8400])],
        ultralytics("Detect"),
        {"num_classes": 3},
        "lists 80 class names but 3 were given",
        id="given-class-count-contradicts-names",
    ),
]


@pytest.mark.parametrize(("inputs", "outputs", "metadata", "options", "reason"), REFUSED)
def test_refuses_naming_outputs_and_layouts(inputs, outputs, metadata, options, reason):
    with pytest.raises(LayoutError) as refused:
        detect_layout(inputs, outputs, metadata, **options)
    message = str(refused.value)
    assert reason in message
    for name, shape in outputs:
        assert f"{name} {list(shape)}" in message
    for layout in Layout:
        assert f"  {layout.value}: " in message
    assert "set `layout:` in the model's entry of the site file" in message


def test_layout_error_is_a_value_error():
    assert issubclass(LayoutError, ValueError)
    assert Layout("rtdetr_original") is Layout.RTDETR_ORIGINAL
    assert Preprocessing("stretch") is Preprocessing.STRETCH
