"""target_fps keeps frames by source timestamp; in-flight bookkeeping bounds what a camera holds."""

import numpy as np
import pytest

from pipeline.camera.inflight import InFlight
from pipeline.camera.pacing import Decimator
from pipeline.camera.sources import CapturedFrame


def kept(target_fps, timestamps):
    decimator = Decimator(target_fps)
    return [pts for pts in timestamps if decimator.keep(pts)]


@pytest.mark.parametrize(
    ("target", "source_fps", "seconds", "expected"),
    [
        (10, 30, 3.0, 30),  # every third frame
        (10, 25, 4.0, 40),  # not a whole ratio: still 10 per second on average
        (5, 5, 2.0, 10),  # target equals the source: everything
        (30, 10, 2.0, 20),  # target above the source: everything, nothing invented
    ],
)
def test_decimation_rate_follows_timestamps(target, source_fps, seconds, expected):
    timestamps = [i / source_fps for i in range(round(seconds * source_fps))]
    assert len(kept(target, timestamps)) == expected


def test_decimation_uses_timestamps_not_counts():
    # A source whose rate doubles half way: frame counting would keep twice as many frames.
    slow = [i / 10 for i in range(20)]  # 2 s at 10 fps
    fast = [2 + i / 20 for i in range(40)]  # 2 s at 20 fps
    result = kept(5, slow + fast)
    assert len(result) == 20
    assert np.allclose(np.diff(result), 0.2, atol=1e-6)


def test_decimation_resynchronises_after_a_gap():
    result = kept(10, [0.0, 0.1, 5.0, 5.05, 5.1, 5.2])
    assert result == [0.0, 0.1, 5.0, 5.1, 5.2]


def test_no_target_keeps_everything():
    assert kept(None, [0.0, 0.001, 0.002]) == [0.0, 0.001, 0.002]


def frame(index):
    return CapturedFrame(np.zeros((2, 2, 3), np.uint8), index, index / 10, 0.0)


def test_in_flight_answers_in_order_and_gives_up_superseded_frames():
    in_flight = InFlight(limit=3, timeout=2.0)
    for seq in (1, 2, 3):
        in_flight.add(seq, frame(seq), sent_at=0.0)
    assert in_flight.full
    settled = in_flight.settle({3: "result 3"}.get, now=0.1)  # newest frame won the batch
    assert [(f.index, seq, result) for f, seq, result in settled.answered] == [(3, 3, "result 3")]
    assert settled.given_up == 2 and len(in_flight) == 0


def test_in_flight_gives_up_unanswered_frames_after_the_timeout():
    in_flight = InFlight(limit=2, timeout=2.0)
    in_flight.add(7, frame(7), sent_at=10.0)
    assert in_flight.settle(lambda seq: None, now=11.0).given_up == 0
    assert in_flight.settle(lambda seq: None, now=12.5).given_up == 1
    assert not in_flight.full
