import numpy as np
import pytest

from pipeline.infer.decode import batched_nms, decode_yolo, nms
from pipeline.infer.preprocess import to_model_input


def yolo_output(anchors, num_classes=3):
    """Build a (1, 4 + nc, N) output from (cx, cy, w, h, class_id, score) anchors."""
    out = np.zeros((1, 4 + num_classes, len(anchors)), dtype=np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(anchors):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + cls, i] = score
    return out


def test_decode_converts_centre_format_and_sorts_by_score():
    out = yolo_output([(50, 50, 20, 40, 0, 0.6), (200, 100, 10, 10, 2, 0.9)])
    (dets,) = decode_yolo(out, conf_threshold=0.25, iou_threshold=0.5)
    np.testing.assert_allclose(
        dets, [[195, 95, 205, 105, 0.9, 2], [40, 30, 60, 70, 0.6, 0]], rtol=1e-6
    )


def test_decode_drops_low_scores_and_suppresses_same_class_overlaps():
    out = yolo_output(
        [
            (100, 100, 50, 50, 0, 0.9),
            (102, 101, 50, 50, 0, 0.8),  # same class, IoU ~0.9: suppressed
            (102, 101, 50, 50, 1, 0.7),  # other class, same place: kept
            (300, 300, 20, 20, 0, 0.1),  # under the threshold
        ]
    )
    (dets,) = decode_yolo(out, conf_threshold=0.25, iou_threshold=0.5)
    assert dets[:, 5].tolist() == [0, 1]
    assert dets[:, 4].tolist() == pytest.approx([0.9, 0.7])


def test_decode_batch_and_empty_images():
    out = np.concatenate(
        [yolo_output([(10, 10, 4, 4, 1, 0.5)]), yolo_output([(0, 0, 1, 1, 0, 0.0)])]
    )
    first, second = decode_yolo(out, conf_threshold=0.25, iou_threshold=0.5)
    assert first.shape == (1, 6) and second.shape == (0, 6)


def test_decode_caps_detection_count():
    anchors = [(20 * i + 10, 10, 8, 8, 0, 0.5 + i / 100) for i in range(10)]
    (dets,) = decode_yolo(yolo_output(anchors), 0.25, 0.5, max_detections=3)
    assert dets[:, 4].tolist() == pytest.approx([0.59, 0.58, 0.57])


def test_decode_rejects_wrong_layout():
    with pytest.raises(ValueError, match=r"\(B, 4 \+ nc, N\)"):
        decode_yolo(np.zeros((1, 4, 100), dtype=np.float32), 0.25, 0.5)


def test_nms_keeps_disjoint_and_removes_overlap():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=np.float32)
    scores = np.array([0.5, 0.9, 0.3], dtype=np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert batched_nms(boxes, scores, np.array([0, 1, 0]), 0.5).tolist() == [1, 0, 2]


def test_to_model_input_flips_channels_and_scales():
    images = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    images[..., 0] = 255  # blue in BGR
    tensor = to_model_input(images)
    assert tensor.shape == (2, 3, 4, 5) and tensor.dtype == np.float32
    assert (tensor[:, 2] == 1.0).all() and (tensor[:, :2] == 0.0).all()
