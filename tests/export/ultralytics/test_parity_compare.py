"""The parity check's comparisons on hand-made outputs (numpy only, no export venv)."""

from __future__ import annotations

import numpy as np
import pytest

from export.ultralytics.parity import TOLERANCE, compare_anchors, compare_rows, parity_images

IMGSZ = 160.0


def rows(*values: tuple[float, float, float, float, float, int], capacity: int = 6) -> np.ndarray:
    """(1, capacity, 6) zero-padded detection rows."""
    out = np.zeros((1, capacity, 6), dtype=np.float32)
    for index, row in enumerate(values):
        out[0, index] = row
    return out


BASE = rows(
    (10, 10, 50, 60, 0.90, 0),
    (12, 11, 52, 61, 0.80, 1),
    (100, 90, 150, 140, 0.50, 2),
)


def anchors(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.random((2, 4 + 3, 20), dtype=np.float32)
    out[:, :4] *= IMGSZ
    return out


@pytest.mark.parametrize(
    ("name", "change", "passes"),
    [
        ("identical", lambda a: a, True),
        ("box 0.1 px off", lambda a: a + np.eye(7, dtype=np.float32)[0][None, :, None] * 0.1, True),
        ("box 1 px off", lambda a: a + np.eye(7, dtype=np.float32)[0][None, :, None] * 1.0, False),
        (
            "score 1e-4 off",
            lambda a: a + np.eye(7, dtype=np.float32)[5][None, :, None] * 1e-4,
            True,
        ),
        (
            "score 0.01 off",
            lambda a: a + np.eye(7, dtype=np.float32)[5][None, :, None] * 0.01,
            False,
        ),
        ("anchors reordered", lambda a: a[:, :, ::-1], False),
        ("shape differs", lambda a: a[:, :, :10], False),
    ],
)
def test_compare_anchors(name: str, change, passes: bool) -> None:
    expected = anchors()
    result = compare_anchors(change(expected.copy()), expected, IMGSZ)
    assert (not result.problems) == passes, result.problems


def with_row(base: np.ndarray, index: int, row: tuple[float, ...]) -> np.ndarray:
    out = base.copy()
    out[0, index] = row
    return out


@pytest.mark.parametrize(
    ("name", "actual", "passes"),
    [
        ("identical", BASE, True),
        ("rows in another order (tied scores)", BASE[:, [1, 0, 2, 3, 4, 5]], True),
        ("box within tolerance", with_row(BASE, 0, (10.1, 10, 50, 60, 0.9, 0)), True),
        ("box 2 px off", with_row(BASE, 0, (12, 10, 50, 60, 0.9, 0)), False),
        ("another class", with_row(BASE, 1, (12, 11, 52, 61, 0.8, 2)), False),
        ("a confident row missing", with_row(BASE, 0, (0, 0, 0, 0, 0, 0)), False),
        ("an extra confident row", with_row(BASE, 3, (20, 20, 40, 40, 0.7, 0)), False),
        # Both sides keep only scores above 0.5 - TOLERANCE: a row just over it on one side
        # only is a tie at the threshold, decided differently.
        ("an extra row at the threshold", with_row(BASE, 3, (20, 20, 40, 40, 0.5005, 0)), True),
    ],
)
def test_compare_rows(name: str, actual: np.ndarray, passes: bool) -> None:
    result = compare_rows(actual, BASE, IMGSZ, threshold=0.5)
    assert (not result.problems) == passes, result.problems


def test_compare_rows_allows_a_tie_at_the_top_k_cut() -> None:
    """A full top-k output (RT-DETR) may pick a different last row when the scores tie there."""
    full = rows((1, 1, 5, 5, 0.9, 0), (2, 2, 6, 6, 0.6, 1), (3, 3, 7, 7, 0.3, 2), capacity=3)
    other = with_row(full, 2, (40, 40, 60, 60, 0.3 + TOLERANCE / 2, 5))
    assert not compare_rows(other, full, 1.0, threshold=0.0).problems
    wrong = with_row(full, 1, (40, 40, 60, 60, 0.6, 5))
    assert compare_rows(wrong, full, 1.0, threshold=0.0).problems


def test_parity_images_are_repeatable_blocks() -> None:
    images = parity_images(2, (40, 56), seed=3)
    assert images.shape == (2, 3, 40, 56) and images.dtype == np.float32
    assert np.array_equal(images, parity_images(2, (40, 56), seed=3))
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert np.array_equal(images[:, :, :8, :8], np.broadcast_to(images[:, :, :1, :1], (2, 3, 8, 8)))
