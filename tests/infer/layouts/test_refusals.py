"""Refused model descriptions: the message says why, names the outputs with their shapes,
lists the supported layouts and where to set `layout:`."""

import pytest

from pipeline.infer.layouts import (
    LAYOUT_METADATA_KEY,
    Layout,
    LayoutError,
    Preprocessing,
    detect_layout,
)
from tests.infer.layouts.descriptions import (
    DYNAMIC_IMAGES,
    EFFICIENT_NMS_OUTPUTS,
    NAMES2,
    NAMES3,
    NAMES80,
    NMS_ARGS,
    ORIGINAL_RTDETR_OUTPUTS,
    ultralytics,
)

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
