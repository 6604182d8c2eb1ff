"""The chunked NMS gives exactly the classic greedy answer, across chunks and classes."""

import numpy as np
import pytest

from pipeline.infer.layouts.nms import CHUNK, FIRST_SORTED, class_aware_nms, top_scores


def greedy_reference(boxes, scores, classes, threshold, max_kept):
    """The textbook loop: best first, keep unless a kept box of its class overlaps > t."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if len(kept) == max_kept:
            break
        if all(classes[j] != classes[i] or iou(boxes[i], boxes[j]) <= threshold for j in kept):
            kept.append(i)
    return kept


def iou(a, b):
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def clustered(seed, count, classes, objects=12):
    """Boxes jittered around a few objects (as a detector's neighbouring cells predict them)
    plus scattered small ones; float32 as the decoders hand them over."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(40, 600, (objects, 2))
    sizes = rng.uniform(20, 200, (objects, 2))
    which = rng.integers(0, objects, count)
    centre = centres[which] + rng.normal(0, 0.06, (count, 2)) * sizes[which]
    size = sizes[which] * rng.normal(1, 0.1, (count, 2))
    scattered = rng.random(count) < 0.2
    centre[scattered] = rng.uniform(0, 640, (int(scattered.sum()), 2))
    size[scattered] = rng.uniform(4, 60, (int(scattered.sum()), 2))
    boxes = np.hstack([centre - np.abs(size) / 2, centre + np.abs(size) / 2]).astype(np.float32)
    scores = rng.uniform(0.25, 1, count).astype(np.float32)
    return boxes, scores, rng.integers(0, classes, count)


@pytest.mark.parametrize(
    ("seed", "count", "classes", "threshold", "max_kept"),
    [
        pytest.param(1, 40, 1, 0.5, 100, id="one-chunk-one-class"),
        pytest.param(2, 3 * CHUNK + 17, 3, 0.5, 100, id="several-chunks"),
        pytest.param(3, FIRST_SORTED * 20 + 300, 2, 0.45, 20, id="stops-at-max-kept"),
        pytest.param(4, 900, 80, 0.7, 300, id="many-classes"),
        pytest.param(5, 900, 1, 0.3, 100, id="sorted-tail-used-when-head-runs-out"),
        pytest.param(6, 500, 1000, 0.5, 500, id="large-class-ids"),
    ],
)
def test_matches_greedy_reference(seed, count, classes, threshold, max_kept):
    boxes, scores, class_ids = clustered(seed, count, classes)
    expected = greedy_reference(
        boxes.astype(np.float64).tolist(), scores.tolist(), class_ids.tolist(), threshold, max_kept
    )
    kept = class_aware_nms(boxes, scores, class_ids, threshold, max_kept)
    assert kept.tolist() == expected


def test_sorted_tail_case_really_reaches_past_the_head():
    """The tail case above keeps a box ranked past the first FIRST_SORTED * max_kept."""
    boxes, scores, class_ids = clustered(5, 900, 1)
    kept = class_aware_nms(boxes, scores, class_ids, 0.3, 100)
    rank = np.argsort(np.argsort(-scores, kind="stable"))
    assert rank[kept].max() >= FIRST_SORTED * 100


def test_equal_scores_keep_index_order():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], dtype=np.float32)
    scores = np.full(3, 0.5, dtype=np.float32)
    kept = class_aware_nms(boxes, scores, np.zeros(3, dtype=np.int64), 0.5, 10)
    assert kept.tolist() == [0, 2]


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        pytest.param([0, 0], [1], id="same-class-suppressed"),
        pytest.param([0, 1], [1, 0], id="two-classes-both-kept"),
        pytest.param([5, 5], [1], id="any-class-id"),
    ],
)
def test_identical_boxes(classes, expected):
    boxes = np.array([[20, 20, 80, 80], [20, 20, 80, 80]], dtype=np.float32)
    scores = np.array([0.4, 0.9], dtype=np.float32)
    assert class_aware_nms(boxes, scores, np.array(classes), 0.5, 10).tolist() == expected


def test_threshold_one_suppresses_nothing_and_empty_input():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=np.float32)
    scores = np.array([0.9, 0.8], dtype=np.float32)
    assert class_aware_nms(boxes, scores, np.zeros(2, dtype=np.int64), 1.0, 10).tolist() == [0, 1]
    empty = class_aware_nms(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0), 0.5, 10)
    assert empty.shape == (0,)


def test_top_scores_caps_candidates():
    scores = np.array([0.3, 0.9, 0.1, 0.8, 0.5], dtype=np.float32)
    assert top_scores(scores, 2).tolist() == [1, 3]
    assert top_scores(scores, 10).tolist() == [0, 1, 2, 3, 4]
