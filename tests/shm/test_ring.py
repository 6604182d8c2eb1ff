"""FrameRing: round trips, writer restarts, a writer killed mid-frame, torn-read detection."""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import replace

import numpy as np
import pytest

from pipeline.shm.ring import FrameMeta, FrameRing
from pipeline.shm.segments import SegmentNames
from tests.shm.conftest import Children
from tests.shm.workers import (
    hammer,
    meta_for,
    pixel_value,
    write_frames,
    write_one,
    write_then_die_mid_frame,
)

logger = logging.getLogger(__name__)

H, W = 24, 32


@pytest.fixture
def ring(names: SegmentNames):
    created = FrameRing.create(names.frames(0), 4, H, W)
    yield created
    created.close()
    created.unlink()


def read_slot(ring: FrameRing, slot: int) -> tuple[FrameMeta | None, np.ndarray]:
    out = np.full((ring.height, ring.width, 3), 1, np.uint8)
    return ring.read_into(slot, out), out


def assert_frame(ring: FrameRing, slot: int, seq: int) -> None:
    meta, pixels = read_slot(ring, slot)
    assert meta is not None, f"slot {slot} unreadable"
    assert meta.seq == seq
    assert np.all(pixels == pixel_value(seq))


def test_empty_ring_has_nothing_to_read(ring: FrameRing) -> None:
    assert ring.newest() is None
    assert ring.last_seq() == 0
    assert ring.next_seq == 1
    for slot in range(ring.slots):
        assert read_slot(ring, slot)[0] is None


def test_round_trip_in_one_process(ring: FrameRing) -> None:
    seq = ring.next_seq
    pixels = ring.begin_write()
    assert pixels.shape == (H, W, 3) and pixels.dtype == np.uint8
    pixels[:] = np.arange(H * W * 3, dtype=np.uint32).reshape(H, W, 3) % 256
    meta = FrameMeta(1, 17, 0.68, 123.25, 1920, 1080, 0.0167, 0.0222, 0, 3)
    ring.publish(meta)
    assert ring.newest() == (seq, seq % ring.slots)
    read, out = read_slot(ring, seq % ring.slots)
    assert read == meta
    assert np.array_equal(out, np.arange(H * W * 3, dtype=np.uint32).reshape(H, W, 3) % 256)


def test_round_trip_across_processes(
    ring: FrameRing, names: SegmentNames, children: Children
) -> None:
    children.run(write_frames, names.frames(0), 4, H, W, 6)
    assert ring.newest() == (6, 2)
    assert ring.last_seq() == 6
    for seq in range(3, 7):  # the 4 newest of 6 frames
        assert_frame(ring, seq % 4, seq)
    meta, _ = read_slot(ring, 6 % 4)
    assert meta is not None
    expected = meta_for(6)
    assert (meta.source_index, meta.pts, meta.scale_x, meta.pad_y) == (
        expected.source_index,
        expected.pts,
        expected.scale_x,
        expected.pad_y,
    )


def test_seqs_continue_after_writer_reattaches(
    ring: FrameRing, names: SegmentNames, children: Children
) -> None:
    children.run(write_frames, names.frames(0), 4, H, W, 5)
    restarted = FrameRing.attach(names.frames(0), 4, H, W)
    assert restarted.last_seq() == 5
    assert restarted.next_seq == 6
    restarted.close()
    children.run(write_frames, names.frames(0), 4, H, W, 3)
    assert ring.newest() == (8, 0)
    for seq in range(5, 9):
        assert_frame(ring, seq % 4, seq)


def test_writer_killed_mid_frame_is_recovered_by_the_next(
    ring: FrameRing, names: SegmentNames, children: Children
) -> None:
    begun = children.context.Event()
    writer = children.start(write_then_die_mid_frame, names.frames(0), 4, H, W, 3, begun)
    assert begun.wait(60), "writer never began its 4th frame"
    assert writer.pid is not None
    os.kill(writer.pid, signal.SIGKILL)
    writer.join(10)
    assert writer.exitcode == -signal.SIGKILL

    busy_slot = 4 % 4
    assert read_slot(ring, busy_slot)[0] is None  # left mid-write: never readable as is
    assert ring.newest() == (3, 3)
    assert ring.last_seq() == 3

    children.run(write_frames, names.frames(0), 4, H, W, 2)
    assert ring.newest() == (5, 1)
    for seq in (2, 3, 4, 5):
        assert_frame(ring, seq % 4, seq)


def test_claim_empties_a_slot_left_busy(ring: FrameRing, names: SegmentNames) -> None:
    write_one(ring)
    ring.begin_write()  # this object now plays the writer that dies before publishing
    successor = FrameRing.attach(names.frames(0), 4, H, W)
    successor.claim()
    assert read_slot(ring, 2)[0] is None  # emptied: seq 0, lock even
    assert write_one(successor) == 2
    assert_frame(ring, 2, 2)
    successor.close()


def test_begin_write_twice_returns_the_same_slot_and_abort_reuses_the_seq(ring: FrameRing) -> None:
    first = ring.begin_write()
    second = ring.begin_write()
    assert np.shares_memory(first, second)
    ring.abort_write()
    assert ring.next_seq == 1
    assert read_slot(ring, 1)[0] is None
    assert write_one(ring) == 1
    assert_frame(ring, 1, 1)


def test_reads_of_a_slot_being_written_return_none(ring: FrameRing) -> None:
    write_one(ring)
    ring.begin_write()  # seq 2, slot 2
    assert read_slot(ring, 2)[0] is None
    assert_frame(ring, 1, 1)  # other slots stay readable


def test_publish_misuse_is_refused(ring: FrameRing) -> None:
    with pytest.raises(RuntimeError, match="without begin_write"):
        ring.publish(meta_for(1))
    ring.begin_write()
    with pytest.raises(ValueError, match="publishing seq 7 into the slot of seq 1"):
        ring.publish(meta_for(7))


def test_read_into_checks_the_buffer(ring: FrameRing) -> None:
    write_one(ring)
    with pytest.raises(ValueError, match=r"expected out of shape \(24, 32, 3\) uint8"):
        ring.read_into(1, np.zeros((H, W, 3), np.float32))
    with pytest.raises(ValueError, match="got \\(32, 24, 3\\)"):
        ring.read_into(1, np.zeros((W, H, 3), np.uint8))


def test_attach_with_another_geometry_is_refused(ring: FrameRing, names: SegmentNames) -> None:
    with pytest.raises(
        ValueError, match=r"does not hold a frame ring of 4 slots of 32x24x3 uint8 .*dims=24x32"
    ):
        FrameRing.attach(names.frames(0), 4, W, H)
    with pytest.raises(ValueError, match="needs"):
        FrameRing.attach(names.frames(0), 8, H, W)


def test_pixel_blocks_are_page_aligned(names: SegmentNames) -> None:
    ring = FrameRing.create(names.frames(1), 3, 5, 7)
    try:
        addresses = []
        for _ in range(3):
            addresses.append(ring.begin_write().ctypes.data)
            ring.publish(meta_for(ring.next_seq))
        assert len(set(addresses)) == 3
        assert all(address % 4096 == 0 for address in addresses)
        assert FrameRing.nbytes(3, 5, 7) == 4096 + 3 * 4096  # control + headers, then 3 pages
    finally:
        ring.close()
        ring.unlink()


@pytest.mark.parametrize("slots", [1, 2])
def test_a_reader_never_returns_a_half_written_frame(
    names: SegmentNames, children: Children, slots: int
) -> None:
    """A writer rewrites a tiny ring with no backpressure while this process reads."""
    height, width = 96, 128
    ring = FrameRing.create(names.frames(0), slots, height, width)
    ready, stop = children.context.Event(), children.context.Event()
    written = children.context.Value("Q", 0)
    out = np.empty((height, width, 3), np.uint8)
    consistent, torn, previous_seq = 0, 0, 0
    try:
        writer = children.start(hammer, names.frames(0), slots, height, width, ready, stop, written)
        assert ready.wait(60), "writer did not start"
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            newest = ring.newest()
            assert newest is not None
            meta = ring.read_into(newest[1], out)
            if meta is None:
                torn += 1
                continue
            lowest, highest = int(out.min()), int(out.max())
            assert lowest == highest == pixel_value(meta.seq), (
                f"frame {meta.seq} has pixel values {lowest}..{highest}, expected {pixel_value(meta.seq)}"
            )
            assert meta == replace(meta_for(meta.seq), captured_at=meta.captured_at)
            assert meta.seq >= previous_seq
            previous_seq = meta.seq
            consistent += 1
        stop.set()
        writer.join(30)
        assert writer.exitcode == 0
    finally:
        ring.close()
        ring.unlink()
    logger.info(
        "slots=%d: %d consistent reads, %d torn, %d frames written",
        slots,
        consistent,
        torn,
        written.value,
    )
    print(f"slots={slots}: {consistent} consistent, {torn} torn, {written.value} written")
    assert consistent > 0
    assert written.value > previous_seq  # the writer kept writing while we read
