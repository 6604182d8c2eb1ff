import pytest

from pipeline.camera.timeline import GapCounter, SourceTimeline

PERIOD = 0.1


def stamps(events):
    """events: ("frame", pts, captured_at) or ("reconnect",)."""
    timeline, out = SourceTimeline(), []
    for event in events:
        if event[0] == "reconnect":
            timeline.new_session()
        else:
            out.append(round(timeline.stamp(event[1], event[2], PERIOD), 6))
    return out


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # Increasing source timestamps pass through unchanged (files, the synthetic scene).
        ([("frame", 0.0, 10.0), ("frame", 0.1, 10.1), ("frame", 0.2, 10.2)], [0.0, 0.1, 0.2]),
        # A reopened stream starts at 0 again: continue by the wall time that passed (5 s).
        (
            [("frame", 3.0, 10.0), ("reconnect",), ("frame", 0.0, 15.0), ("frame", 0.1, 15.1)],
            [3.0, 8.0, 8.1],
        ),
        # Reopened at once: at least one frame period later.
        ([("frame", 3.0, 10.0), ("reconnect",), ("frame", 0.0, 10.0)], [3.0, 3.1]),
        # Time running back inside a session (camera clock reset): one period on.
        ([("frame", 5.0, 1.0), ("frame", 5.1, 1.1), ("frame", 0.4, 1.2)], [5.0, 5.1, 5.2]),
        # A repeated timestamp never repeats downstream.
        ([("frame", 2.0, 1.0), ("frame", 2.0, 1.1)], [2.0, 2.1]),
    ],
)
def test_timestamps_keep_increasing(events, expected):
    assert stamps(events) == expected


def missing(fps, stamps_ms):
    counter = GapCounter(fps)
    return [counter.missing(stamp) for stamp in stamps_ms]


@pytest.mark.parametrize(
    ("fps", "stamps_ms", "expected"),
    [
        (10.0, [0, 100, 200, 300], [0, 0, 0, 0]),
        (10.0, [100, 200, 500, 600], [0, 0, 2, 0]),  # 300 and 400 lost
        (10.0, [0, 0, 0], [0, 0, 0]),  # no timestamps (raw H.264): nothing counted
        (10.0, [500, 400, 600], [0, 0, 1]),  # time ran back: a new start, then one lost
        # The camera halves its rate: three frames counted, then 200 ms is "one frame".
        (10.0, [1000, 1100, 1200, *range(1400, 5001, 200)], [0, 0, 0, 1, 1, 1] + [0] * 16),
    ],
)
def test_gap_counter(fps, stamps_ms, expected):
    assert missing(fps, stamps_ms) == expected
