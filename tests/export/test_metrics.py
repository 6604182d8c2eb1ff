"""Average precision on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from export.demo_model.metrics import (
    ImageDetections,
    area_under_envelope,
    average_precision,
    iou_matrix,
    match_image,
)

A = [0.0, 0.0, 10.0, 10.0]
B = [20.0, 20.0, 30.0, 30.0]
C = [40.0, 0.0, 50.0, 10.0]
FAR = [100.0, 100.0, 110.0, 110.0]


def image(
    dets: list[list[float]],
    scores: list[float],
    truth: list[list[float]],
    ignore: list[bool] | None = None,
) -> ImageDetections:
    return ImageDetections(
        np.array(dets, dtype=np.float32).reshape(-1, 4),
        np.array(scores, dtype=np.float32),
        np.array(truth, dtype=np.float32).reshape(-1, 4),
        np.array(ignore if ignore is not None else [False] * len(truth), dtype=bool),
    )


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        # Every object found, nothing else: perfect.
        ([image([A, B], [0.9, 0.8], [A, B])], 1.0),
        # A false positive ranked first: precision 1/2 at recall 1/2, 2/3 at recall 1.
        # The envelope is 2/3 everywhere: AP = 2/3.
        ([image([FAR, A, B], [0.95, 0.9, 0.8], [A, B])], 2 / 3),
        # A false positive ranked last costs nothing: recall 1 is reached at precision 1.
        ([image([A, B, FAR], [0.9, 0.8, 0.1], [A, B])], 1.0),
        # One of two objects never found: recall stops at 1/2.
        ([image([A], [0.9], [A, B])], 0.5),
        # Across images: ranks are global. Image 1's FP (0.85) sits between the two TPs:
        # P = 1, 1/2, 2/3 at R = 1/2, 1/2, 1 -> envelope 1 up to R 1/2, 2/3 to R 1.
        ([image([A], [0.9], [A]), image([FAR, B], [0.85, 0.8], [B])], 0.5 + 0.5 * 2 / 3),
        # A duplicate of a found object is a false positive.
        ([image([A, A], [0.9, 0.8], [A, B])], 0.5),
        # Detections of ignored objects are neither right nor wrong...
        ([image([C, A], [0.95, 0.9], [A, C], [False, True])], 1.0),
        # ...and missing them is not a miss.
        ([image([A], [0.9], [A, C], [False, True])], 1.0),
        # Nothing detected at all.
        ([image([], [], [A])], 0.0),
    ],
)
def test_average_precision(images: list[ImageDetections], expected: float) -> None:
    assert average_precision(images, 0.5) == pytest.approx(expected)


def test_iou_threshold_decides_a_match() -> None:
    shifted = [4.0, 0.0, 14.0, 10.0]  # IoU with A = 60 / 140 = 0.43
    assert iou_matrix(np.array([shifted]), np.array([A]))[0, 0] == pytest.approx(60 / 140)
    assert average_precision([image([shifted], [0.9], [A])], 0.5) == 0.0
    assert average_precision([image([shifted], [0.9], [A])], 0.4) == 1.0


def test_counted_truth_is_preferred_over_ignored_truth() -> None:
    """A detection overlapping both a counted and an ignored box matches the counted one."""
    near_a = [1.0, 0.0, 11.0, 10.0]
    scores, hits = match_image(image([near_a], [0.9], [near_a, A], [True, False]), 0.5)
    assert hits.tolist() == [True]
    assert scores.tolist() == pytest.approx([0.9])


def test_no_counted_truth_gives_nan() -> None:
    assert math.isnan(average_precision([image([A], [0.9], [A], [True])], 0.5))


def test_envelope_uses_the_best_precision_to_the_right() -> None:
    # Precision dips to 0.5 then recovers to 0.75 at higher recall.
    recall = np.array([0.25, 0.25, 0.5, 0.75])
    precision = np.array([1.0, 0.5, 2 / 3, 0.75])
    assert area_under_envelope(recall, precision) == pytest.approx(0.25 * 1.0 + 0.5 * 0.75)
