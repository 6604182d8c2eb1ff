"""StatusBoard: rows written by other processes, field ownership, typed access."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.shm.board import BOARD_DTYPE, StatusBoard
from pipeline.shm.segments import SegmentNames
from pipeline.shm.states import ProcessState, StreamState
from tests.shm.conftest import Children
from tests.shm.workers import write_board_row

ROWS = 4


@pytest.fixture
def board(names: SegmentNames):
    created = StatusBoard.create(names.board(), ROWS)
    yield created
    created.close()
    created.unlink()


def test_a_fresh_board_is_stopped_and_offline(board: StatusBoard) -> None:
    snapshot = board.snapshot()
    assert snapshot.shape == (ROWS,)
    assert (snapshot["proc_state"] == ProcessState.STOPPED).all()
    assert (snapshot["stream_state"] == StreamState.OFFLINE).all()
    assert (snapshot["frames_in"] == 0).all()


def test_child_rows_are_seen_by_the_parent_and_stay_independent(
    board: StatusBoard, names: SegmentNames, children: Children
) -> None:
    released = children.context.Event()
    written = {index: children.context.Event() for index in (1, 3)}
    for index, event in written.items():
        children.start(write_board_row, names.board(), ROWS, index, event, released)
    # the supervisor's fields of the same rows, written while the children write theirs
    for index in (1, 3):
        row = board.row(index)
        row.pid = 1000 + index
        row.proc_state = ProcessState.RUNNING
        row.restarts = index
    for index, event in written.items():
        assert event.wait(60), f"camera row {index} never written"

    snapshot = board.snapshot()  # taken while the children are still attached
    released.set()
    for index in (1, 3):
        row = snapshot[index]
        assert row["frames_in"] == index * 100
        assert row["frames_sent"] == index * 90
        assert row["latency_ms"] == pytest.approx(40.5 + index)
        assert row["stream_state"] == StreamState.STREAMING
        assert row["backend"] == f"ort-{index}".encode()
        assert row["heartbeat"] > 0
        assert (row["pid"], row["proc_state"], row["restarts"]) == (
            1000 + index,
            ProcessState.RUNNING,
            index,
        )
    zero = np.zeros(1, BOARD_DTYPE)[0]
    assert snapshot[0] == zero
    assert snapshot[2] == zero


def test_snapshot_is_a_copy(board: StatusBoard) -> None:
    snapshot = board.snapshot()
    board.row(0).frames_in = 5
    assert snapshot[0]["frames_in"] == 0
    assert board.snapshot()[0]["frames_in"] == 5


def test_typed_fields(board: StatusBoard) -> None:
    row = board.row(2)
    row.proc_state = ProcessState.BACKOFF
    row.stream_state = StreamState.RECONNECTING
    row.frames_done += 3
    row.frames_done += 4
    row.update(fps_in=24.5, infer_ms=7.25, backend="tensorrt-fp16-with-a-long-suffix")
    assert row.proc_state is ProcessState.BACKOFF
    assert row.stream_state is StreamState.RECONNECTING
    assert row.frames_done == 7 and isinstance(row.frames_done, int)
    assert row.fps_in == pytest.approx(24.5) and isinstance(row.fps_in, float)
    assert row.backend == "tensorrt-fp16-wit"[:16]
    assert board.snapshot()[2]["infer_ms"] == pytest.approx(7.25)
    with pytest.raises(AttributeError):
        row.fps_typo = 1.0  # type: ignore[attr-defined]


def test_rows_fill_whole_cache_lines() -> None:
    assert BOARD_DTYPE.itemsize % 64 == 0
    assert StatusBoard.nbytes(3) == 64 + 3 * BOARD_DTYPE.itemsize


def test_out_of_range_rows_and_wrong_row_counts_are_refused(
    board: StatusBoard, names: SegmentNames
) -> None:
    with pytest.raises(IndexError, match=r"out of range 0\.\.3"):
        board.row(ROWS)
    with pytest.raises(ValueError, match="not a status board of 3 rows"):
        StatusBoard.attach(names.board(), 3)
    with pytest.raises(ValueError, match="needs"):
        StatusBoard.attach(names.board(), ROWS + 10)
