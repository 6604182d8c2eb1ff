"""ResultRing: round trips, truncation to the best scores, replaced and missing results."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.detections import COLUMNS, Detections
from pipeline.shm.ring import ResultRing
from pipeline.shm.segments import SegmentNames
from tests.shm.conftest import Children
from tests.shm.workers import write_result

SLOTS, MAX_DETECTIONS = 4, 5


@pytest.fixture
def results(names: SegmentNames):
    created = ResultRing.create(names.results(0), SLOTS, MAX_DETECTIONS)
    yield created
    created.close()
    created.unlink()


def detections(scores: list[float]) -> Detections:
    count = len(scores)
    x1 = np.arange(count) * 10.0  # x1 identifies the row
    boxes = np.stack([x1, np.zeros(count), x1 + 5, np.full(count, 8.0)], axis=1)
    return Detections.create(
        boxes,
        scores,
        np.arange(count) % 3,
        model_index=np.arange(count) % 2,
        track_id=np.arange(count) + 100,
    )


def same(a: Detections, b: Detections) -> bool:
    return np.array_equal(a.to_rows(), b.to_rows())


def test_round_trip(results: ResultRing) -> None:
    sent = detections([0.9, 0.4, 0.7])
    results.write(7, sent, batch_size=6, infer_ms=18.25)
    result = results.read(7)
    assert result is not None
    assert result.frame_seq == 7
    assert result.batch_size == 6
    assert result.infer_ms == pytest.approx(18.25)
    assert result.done_at > 0
    assert same(result.detections, sent)  # every column, model index and track id included


def test_result_is_a_copy(results: ResultRing) -> None:
    results.write(1, detections([0.5]), 1, 1.0)
    first = results.read(1)
    assert first is not None
    first.detections.score[:] = -1
    again = results.read(1)
    assert again is not None and again.detections.score[0] == pytest.approx(0.5)


def test_no_detections_is_a_result(results: ResultRing) -> None:
    results.write(3, Detections.empty(), 2, 4.0)
    result = results.read(3)
    assert result is not None
    assert len(result.detections) == 0


@pytest.mark.parametrize(
    ("scores", "kept_rows"),
    [
        ([0.1, 0.9, 0.5, 0.3, 0.8, 0.7, 0.2], [1, 2, 3, 4, 5]),
        ([0.6, 0.1, 0.2, 0.3, 0.4, 0.5, 0.95, 0.05], [0, 3, 4, 5, 6]),
        ([0.3, 0.2, 0.1, 0.05, 0.9, 0.8], [0, 1, 2, 4, 5]),
        ([0.3, 0.2, 0.1, 0.05, 0.9], [0, 1, 2, 3, 4]),  # exactly max_detections: all kept
    ],
)
def test_truncation_keeps_the_highest_scores_in_order(
    results: ResultRing, scores: list[float], kept_rows: list[int]
) -> None:
    sent = detections(scores)
    results.write(2, sent, 1, 1.0)
    result = results.read(2)
    assert result is not None
    assert same(result.detections, sent[np.array(kept_rows)])


def test_a_replaced_result_is_gone(results: ResultRing) -> None:
    results.write(2, detections([0.5]), 1, 1.0)
    results.write(2 + SLOTS, detections([0.6, 0.7]), 1, 1.0)
    assert results.read(2) is None
    replacement = results.read(2 + SLOTS)
    assert replacement is not None and len(replacement.detections) == 2


def test_missing_results_read_as_none(results: ResultRing) -> None:
    assert results.read(1) is None
    results.write(1, detections([0.5]), 1, 1.0)
    assert results.read(2) is None
    assert results.read(1 + SLOTS) is None  # same slot, other frame


def test_bad_input_is_refused(results: ResultRing) -> None:
    with pytest.raises(ValueError, match="start at 1"):
        results.write(0, detections([0.5]), 1, 1.0)


def test_written_by_another_process(
    results: ResultRing, names: SegmentNames, children: Children
) -> None:
    children.run(write_result, names.results(0), SLOTS, MAX_DETECTIONS, 11, 4)
    result = results.read(11)
    assert result is not None
    assert (result.batch_size, result.infer_ms) == (3, pytest.approx(12.5))
    rows = np.arange(4 * len(COLUMNS), dtype=np.float32).reshape(4, len(COLUMNS))
    assert np.array_equal(result.detections.to_rows(), rows)


def test_attach_with_another_size_is_refused(results: ResultRing, names: SegmentNames) -> None:
    with pytest.raises(ValueError, match="result ring"):
        ResultRing.attach(names.results(0), SLOTS, MAX_DETECTIONS + 1)
