"""Child-process bodies for the shared-memory tests (module-level so that spawn can import them).

Every frame a worker writes has all its pixels equal to `pixel_value(seq)`, so a reader can
tell a consistent frame from a mixture of two.
"""

from __future__ import annotations

import threading
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

import numpy as np

from pipeline.detections import COLUMNS, Detections
from pipeline.shm.board import StatusBoard
from pipeline.shm.ring import FrameMeta, FrameRing, ResultRing
from pipeline.shm.states import StreamState


def pixel_value(seq: int) -> int:
    return seq % 251


def meta_for(seq: int) -> FrameMeta:
    """Meta whose every field is derived from `seq`, so a reader can check them all."""
    return FrameMeta(
        seq=seq,
        source_index=seq * 10,
        pts=seq / 25.0,
        captured_at=time.monotonic(),
        orig_w=1920,
        orig_h=1080,
        scale_x=seq / 1000.0,
        scale_y=seq / 2000.0,
        pad_x=seq % 7,
        pad_y=seq % 11,
    )


def write_one(ring: FrameRing) -> int:
    seq = ring.next_seq
    ring.begin_write().fill(pixel_value(seq))
    ring.publish(meta_for(seq))
    return seq


def write_frames(name: str, slots: int, height: int, width: int, count: int) -> None:
    ring = FrameRing.attach(name, slots, height, width)
    for _ in range(count):
        write_one(ring)
    ring.close()


def write_then_die_mid_frame(
    name: str, slots: int, height: int, width: int, count: int, begun: Event
) -> None:
    """Publish `count` frames, begin the next, half-fill it, then wait to be SIGKILLed."""
    ring = FrameRing.attach(name, slots, height, width)
    for _ in range(count):
        write_one(ring)
    pixels = ring.begin_write()
    pixels[: height // 2] = 0xEE
    begun.set()
    threading.Event().wait(60)  # the parent kills us long before this returns


def hammer(
    name: str,
    slots: int,
    height: int,
    width: int,
    ready: Event,
    stop: Event,
    written: Synchronized,
) -> None:
    """Rewrite the ring as fast as possible, with no backpressure, until `stop`."""
    ring = FrameRing.attach(name, slots, height, width)
    write_one(ring)
    ready.set()
    count = 1
    while not stop.is_set():
        for _ in range(50):
            write_one(ring)
        count += 50
    written.value = count
    ring.close()


def write_result(name: str, slots: int, max_detections: int, frame_seq: int, rows: int) -> None:
    ring = ResultRing.attach(name, slots, max_detections)
    values = np.arange(rows * len(COLUMNS), dtype=np.float32).reshape(rows, len(COLUMNS))
    ring.write(frame_seq, Detections.from_rows(values), batch_size=3, infer_ms=12.5)
    ring.close()


def write_board_row(name: str, rows: int, index: int, written: Event, release: Event) -> None:
    """Fill the fields a camera process owns in row `index`, then wait for `release`."""
    board = StatusBoard.attach(name, rows)
    row = board.row(index)
    row.heartbeat = time.monotonic()
    row.stream_state = StreamState.STREAMING
    for _ in range(index * 100):
        row.frames_in += 1
    row.frames_sent = index * 90
    row.latency_ms = 40.5 + index
    row.backend = f"ort-{index}"
    written.set()
    release.wait(30)
    del row
    board.close()
