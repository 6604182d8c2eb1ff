import numpy as np
import pytest

from pipeline.detections import COLUMNS, NO_TRACK, Detections


def sample() -> Detections:
    return Detections.create(
        [[0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 1, 9]],
        [0.9, 0.5, 0.3],
        [0, 2, 1],
        model_index=np.array([0, 1, 1]),
    )


def test_rows_round_trip_every_column():
    detections = sample().replace(track_id=np.array([7, NO_TRACK, 12]))
    rows = detections.to_rows()
    assert rows.shape == (3, len(COLUMNS)) and rows.dtype == np.float32
    back = Detections.from_rows(rows)
    for name in ("xyxy", "score", "class_id", "model_index", "track_id"):
        np.testing.assert_array_equal(getattr(back, name), getattr(detections, name))
    assert back.class_id.dtype == np.int32


def test_from_rows_copies_so_a_rewritten_slot_cannot_change_it():
    rows = sample().to_rows()
    detections = Detections.from_rows(rows)
    rows[:] = 0
    assert detections.xyxy[1, 3] == 30 and detections.score[0] == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": np.zeros((2, 3))}, r"xyxy: expected shape \(N, 4\), got \(2, 3\)"),
        ({"score": np.zeros(3)}, r"score: expected shape \(2,\), got \(3,\)"),
        ({"class_id": np.zeros((2, 1))}, r"class_id: expected shape \(2,\), got \(2, 1\)"),
    ],
)
def test_shapes_are_checked_with_the_column_named(kwargs, message):
    fields = {
        "xyxy": np.zeros((2, 4), np.float32),
        "score": np.zeros(2, np.float32),
        "class_id": np.zeros(2, np.int32),
        "model_index": np.zeros(2, np.int32),
        "track_id": np.zeros(2, np.int32),
    }
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Detections(**fields)


def test_subset_concat_and_area():
    detections = sample()
    kept = detections[detections.area > 0]
    assert len(kept) == 2 and list(kept.class_id) == [0, 2]
    both = Detections.concat([kept, Detections.empty(), detections[1:2]])
    assert list(both.model_index) == [0, 1, 1]
    assert list(both.track_id) == [NO_TRACK] * 3
    assert Detections.concat([]).to_rows().shape == (0, len(COLUMNS))


def test_replace_rejects_unknown_columns():
    with pytest.raises(TypeError, match="unknown detections columns: tracks"):
        sample().replace(tracks=np.zeros(3))
