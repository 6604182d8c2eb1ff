"""Each layout decoded from hand-made arrays: boxes land where expected, in input pixels."""

import numpy as np
import pytest

from pipeline.infer.layouts import (
    Layout,
    LayoutInfo,
    Preprocessing,
    decode,
    detect_layout,
    extra_inputs,
    target_sizes,
)

NAMES3 = "{0: 'person', 1: 'helmet', 2: 'vest'}"
IMAGES = [("images", ["batch", 3, 640, 640])]


def yolo_info(classes: int = 3) -> LayoutInfo:
    return detect_layout(
        IMAGES, [("output0", ["batch", 4 + classes, "anchors"])], {"head": "Detect"}
    )


def yolo_output(cells, classes=3, images=1):
    """(images, 4 + classes, len(cells)) from (cx, cy, w, h, class, score) cells (image 0),
    the other images empty."""
    out = np.zeros((images, 4 + classes, len(cells)), dtype=np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(cells):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + cls, i] = score
    return out


def assert_rows(detections, expected):
    """Detections equal (x1, y1, x2, y2, score, class) rows, in order."""
    rows = np.column_stack([detections.xyxy, detections.score, detections.class_id])
    np.testing.assert_allclose(
        rows, np.asarray(expected, dtype=np.float64).reshape(-1, 6), atol=1e-4
    )


YOLO_CASES = [
    pytest.param(
        [(50, 50, 20, 40, 0, 0.6), (200, 100, 10, 10, 2, 0.9)],
        {},
        [(195, 95, 205, 105, 0.9, 2), (40, 30, 60, 70, 0.6, 0)],
        id="centre-to-corners-sorted-by-score",
    ),
    pytest.param(
        [(100, 100, 50, 50, 0, 0.9), (102, 101, 50, 50, 0, 0.8), (102, 101, 50, 50, 1, 0.7)],
        {},
        [(75, 75, 125, 125, 0.9, 0), (77, 76, 127, 126, 0.7, 1)],
        id="same-class-overlap-suppressed-other-class-kept",
    ),
    pytest.param(
        [(100, 100, 50, 50, 0, 0.9), (100, 100, 50, 50, 1, 0.8)],
        {},
        [(75, 75, 125, 125, 0.9, 0), (75, 75, 125, 125, 0.8, 1)],
        id="identical-box-two-classes-both-kept",
    ),
    pytest.param(
        [(100, 100, 20, 20, 0, 0.5), (300, 300, 20, 20, 1, 0.25), (400, 400, 8, 8, 2, 0.2)],
        {"conf_threshold": 0.25},
        [(90, 90, 110, 110, 0.5, 0)],
        id="threshold-is-strict",
    ),
    pytest.param(
        [(100, 100, 50, 50, 0, 0.9), (110, 100, 50, 50, 0, 0.8)],
        {"iou_threshold": 0.7},
        [(75, 75, 125, 125, 0.9, 0), (85, 75, 135, 125, 0.8, 0)],
        id="overlap-under-iou-threshold-kept",
    ),
    pytest.param(
        # a letterboxed 640x480 frame: rows 80..560 are image, the rest padding
        [
            (100, 40, 30, 30, 0, 0.95),  # wholly in the top padding
            (300, 600, 30, 30, 1, 0.93),  # wholly in the bottom padding
            (500, 70, 40, 40, 2, 0.91),  # straddles the top edge: clipped
            (200, 300, 20, 20, 0, 0.5),
            (400, 300, 20, 20, 1, 0.4),
        ],
        {"content": [(0, 80, 640, 560)], "max_detections": 2},
        [(480, 80, 520, 90, 0.91, 2), (190, 290, 210, 310, 0.5, 0)],
        id="padding-boxes-dropped-before-max-detections",
    ),
    pytest.param(
        [(20 * i + 10, 10, 8, 8, 0, 0.5 + i / 100) for i in range(10)],
        {"max_detections": 3},
        [(186, 6, 194, 14, 0.59, 0), (166, 6, 174, 14, 0.58, 0), (146, 6, 154, 14, 0.57, 0)],
        id="max-detections-keeps-the-best",
    ),
    pytest.param(
        [(100, 100, 20, 20, 0, 0.6), (300, 300, 20, 20, 1, 0.9)],
        {"max_candidates": 1},
        [(290, 290, 310, 310, 0.9, 1)],
        id="pre-nms-cap-keeps-the-best-cells",
    ),
    pytest.param(
        [(100, 30, 20, 20, 0, 0.9), (300, 300, 20, 20, 1, 0.6)],
        {"max_candidates": 1, "content": [(0, 80, 640, 560)]},
        [(290, 290, 310, 310, 0.6, 1)],
        id="pre-nms-cap-after-padding-boxes-dropped",
    ),
    pytest.param(
        [(630, 630, 40, 40, 0, 0.8)],
        {},
        [(610, 610, 640, 640, 0.8, 0)],
        id="clipped-to-the-canvas-without-content",
    ),
]


@pytest.mark.parametrize(("cells", "overrides", "expected"), YOLO_CASES)
def test_yolo(cells, overrides, expected):
    kwargs = {"conf_threshold": 0.25, "iou_threshold": 0.5, "max_detections": 100} | overrides
    (detections,) = decode(
        yolo_info(), {"output0": yolo_output(cells)}, input_size=(640, 640), **kwargs
    )
    assert_rows(detections, expected)
    assert detections.model_index.tolist() == [0] * len(expected)


def test_yolo_cell_takes_its_best_class():
    output = yolo_output([(100, 100, 20, 20, 1, 0.7)])
    output[0, 4 + 0, 0] = 0.3
    output[0, 4 + 2, 0] = 0.5
    (detections,) = decode(yolo_info(), {"output0": output}, 0.25, 0.5, 10, input_size=(640, 640))
    assert_rows(detections, [(90, 90, 110, 110, 0.7, 1)])


def test_yolo_batch_each_image_its_own_rectangle():
    output = np.concatenate(
        [yolo_output([(100, 100, 40, 40, 0, 0.9)]), yolo_output([(100, 100, 40, 40, 2, 0.8)])]
    )
    first, second = decode(
        yolo_info(),
        {"output0": output},
        0.25,
        0.5,
        10,
        input_size=(640, 640),
        content=[(0, 0, 640, 640), (0, 110, 640, 530)],
    )
    assert_rows(first, [(80, 80, 120, 120, 0.9, 0)])
    assert_rows(second, [(80, 110, 120, 120, 0.8, 2)])


def test_yolo_float16_output():
    output = yolo_output([(50, 50, 20, 40, 0, 0.75)]).astype(np.float16)
    (detections,) = decode(yolo_info(), {"output0": output}, 0.25, 0.5, 10, input_size=(640, 640))
    assert_rows(detections, [(40, 30, 60, 70, 0.75, 0)])
    assert detections.xyxy.dtype == np.float32


def end2end_output(rows, k=8):
    """(1, k, 6) x1, y1, x2, y2, score, class rows, zero-padded after `rows`."""
    out = np.zeros((1, k, 6), dtype=np.float32)
    out[0, : len(rows)] = rows
    return out


def rtdetr_six(rows, q=6):
    """(1, q, 6) normalised cx, cy, w, h, score, class rows, zero after `rows`."""
    out = np.zeros((1, q, 6), dtype=np.float32)
    out[0, : len(rows)] = rows
    return out


def rtdetr_per_class(rows, classes=3, q=5):
    """(1, q, 4 + classes) from (cx, cy, w, h, class, score) normalised rows."""
    out = np.zeros((1, q, 4 + classes), dtype=np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(rows):
        out[0, i, :4] = (cx, cy, w, h)
        out[0, i, 4 + cls] = score
    return out


def info(layout, **fields):
    base = {
        "preprocessing": Preprocessing.LETTERBOX,
        "num_classes": 3,
        "normalised_boxes": False,
        "image_input": "images",
        "outputs": ("output0",),
    }
    return LayoutInfo(layout=layout, **(base | fields))


SET_CASES = [
    pytest.param(
        info(Layout.END2END),
        {"output0": end2end_output([(10, 20, 50, 80, 0.5, 2), (100, 100, 200, 220, 0.9, 0)])},
        {},
        [(100, 100, 200, 220, 0.9, 0), (10, 20, 50, 80, 0.5, 2)],
        id="end2end-sorted-zero-rows-ignored",
    ),
    pytest.param(
        info(Layout.END2END),
        {
            "output0": end2end_output(
                [
                    (0, 0, 40, 60, 0.99, 0),  # in the left padding
                    (70, 10, 120, 60, 0.6, 1),  # straddles the left edge
                    (300, 300, 340, 360, 0.55, 2),
                    (300, 300, 340, 360, 0.2, 2),  # under the threshold
                ]
            )
        },
        {"content": [(80, 0, 560, 640)], "max_detections": 2},
        [(80, 10, 120, 60, 0.6, 1), (300, 300, 340, 360, 0.55, 2)],
        id="end2end-padding-dropped-before-max-detections",
    ),
    pytest.param(
        info(Layout.RTDETR, normalised_boxes=True),
        {"output0": rtdetr_six([(0.5, 0.5, 0.25, 0.5, 0.8, 1), (0.1, 0.2, 0.1, 0.1, 0.9, 0)])},
        {"input_size": (640, 384)},
        [(32, 57.6, 96, 96, 0.9, 0), (240, 96, 400, 288, 0.8, 1)],
        id="rtdetr-six-columns-normalised-to-pixels-per-axis",
    ),
    pytest.param(
        info(Layout.RTDETR, normalised_boxes=True, class_scores=True),
        {
            "output0": rtdetr_per_class(
                [(0.5, 0.5, 0.5, 0.5, 2, 0.7), (0.25, 0.25, 0.1, 0.2, 0, 0.2)]
            )
        },
        {"input_size": (400, 200)},
        [(100, 50, 300, 150, 0.7, 2)],
        id="rtdetr-per-class-scores-best-class",
    ),
    pytest.param(
        info(
            Layout.RTDETR_ORIGINAL,
            outputs=("labels", "boxes", "scores"),
            size_input="orig_target_sizes",
        ),
        {
            "labels": np.array([[1, 0, 1, 2]], dtype=np.int64),
            "boxes": np.array(
                [[[10, 10, 50, 50], [10, 10, 50, 50], [600, 600, 700, 700], [5, 5, 6, 6]]],
                dtype=np.float32,
            ),
            "scores": np.array([[0.6, 0.7, 0.9, 0.1]], dtype=np.float32),
        },
        {},
        [(600, 600, 640, 640, 0.9, 1), (10, 10, 50, 50, 0.7, 0), (10, 10, 50, 50, 0.6, 1)],
        id="rtdetr-original-same-query-two-labels",
    ),
    pytest.param(
        info(
            Layout.EFFICIENT_NMS,
            outputs=("num_dets", "det_boxes", "det_scores", "det_classes"),
        ),
        {
            "num_dets": np.array([[2]], dtype=np.int32),
            "det_boxes": np.array(
                [[[10, 10, 30, 30], [40, 40, 90, 90], [1, 1, 300, 300]]], dtype=np.float32
            ),
            "det_scores": np.array([[0.5, 0.8, 0.99]], dtype=np.float32),
            "det_classes": np.array([[2, 1, 0]], dtype=np.int32),
        },
        {},
        [(40, 40, 90, 90, 0.8, 1), (10, 10, 30, 30, 0.5, 2)],
        id="efficient-nms-reads-only-num-dets-rows",
    ),
]


@pytest.mark.parametrize(("layout_info", "outputs", "overrides", "expected"), SET_CASES)
def test_layouts_without_nms(layout_info, outputs, overrides, expected):
    kwargs = {
        "conf_threshold": 0.25,
        "iou_threshold": 0.5,
        "max_detections": 100,
        "input_size": (640, 640),
    } | overrides
    (detections,) = decode(layout_info, outputs, **kwargs)
    assert_rows(detections, expected)


def test_efficient_nms_batch_counts_per_image():
    layout_info = info(
        Layout.EFFICIENT_NMS, outputs=("num_detections", "boxes", "scores", "classes")
    )
    boxes = np.tile(np.array([[10, 10, 20, 20], [30, 30, 40, 40]], dtype=np.float32), (2, 1, 1))
    outputs = {
        "num_detections": np.array([[0], [2]], dtype=np.int32),
        "boxes": boxes,
        "scores": np.full((2, 2), 0.9, dtype=np.float32),
        "classes": np.zeros((2, 2), dtype=np.int32),
    }
    first, second = decode(layout_info, outputs, 0.25, 0.5, 10, input_size=(640, 640))
    assert len(first) == 0 and len(second) == 2


def test_rtdetr_original_needs_its_size_input_fed_with_the_input_size():
    layout_info = detect_layout(
        [("images", ["N", 3, 640, 480]), ("orig_target_sizes", ["N", 2])],
        [("labels", ["N", 300]), ("boxes", ["N", 300, 4]), ("scores", ["N", 300])],
        {},
    )
    sizes = extra_inputs(layout_info, 3, (480, 640))
    assert list(sizes) == ["orig_target_sizes"]
    assert sizes["orig_target_sizes"].dtype == np.int64
    assert sizes["orig_target_sizes"].tolist() == [[480, 640]] * 3
    assert target_sizes(1, (320, 256)).tolist() == [[320, 256]]
    assert extra_inputs(yolo_info(), 3, (640, 640)) == {}


@pytest.mark.parametrize(
    ("outputs", "content", "message"),
    [
        pytest.param(
            {"output0": yolo_output([], images=4)},
            [(0, 0, 640, 640)] * 2,
            "2 rectangles for a batch of 4",
            id="padded-batch-not-sliced",
        ),
        pytest.param({"other": yolo_output([])}, None, "output0 missing", id="missing-output"),
        pytest.param(
            {"output0": yolo_output([])},
            [(10, 10, 5, 20)],
            "x2 > x1",
            id="inverted-content",
        ),
    ],
)
def test_decode_refuses_inconsistent_calls(outputs, content, message):
    with pytest.raises(ValueError, match=message):
        decode(yolo_info(), outputs, 0.25, 0.5, 10, input_size=(640, 640), content=content)


def test_efficient_nms_outputs_must_agree_on_the_batch():
    layout_info = info(Layout.EFFICIENT_NMS, outputs=("n", "b", "s", "c"))
    outputs = {
        "n": np.zeros((2, 1), dtype=np.int32),
        "b": np.zeros((1, 5, 4), dtype=np.float32),
        "s": np.zeros((1, 5), dtype=np.float32),
        "c": np.zeros((1, 5), dtype=np.int32),
    }
    with pytest.raises(ValueError, match="disagree on the batch"):
        decode(layout_info, outputs, 0.25, 0.5, 10, input_size=(640, 640))


def test_empty_and_all_below_threshold_give_empty_detections():
    output = yolo_output([(100, 100, 20, 20, 0, 0.1)], images=2)
    results = decode(yolo_info(), {"output0": output}, 0.25, 0.5, 10, input_size=(640, 640))
    assert [len(result) for result in results] == [0, 0]
    assert results[0].xyxy.shape == (0, 4)
