"""Batching across cameras, on real shared-memory rings."""

import time

import numpy as np
import pytest

from pipeline.infer.batcher import Batcher
from pipeline.shm.ring import FrameMeta, FrameRing
from pipeline.shm.segments import SegmentNames, run_prefix

SIZE = 32  # tiny letterboxed frames: the batching logic does not care


@pytest.fixture
def rings():
    names = SegmentNames(run_prefix("batcher-test"))
    created = [FrameRing.create(names.frames(i), 4, SIZE, SIZE) for i in range(3)]
    writers = [FrameRing.attach(names.frames(i), 4, SIZE, SIZE) for i in range(3)]
    yield created, writers
    for ring in writers:
        ring.close()
    for ring in created:
        ring.close()
        ring.unlink()


def publish(ring: FrameRing) -> int:
    seq = ring.next_seq
    ring.begin_write()[:] = seq % 256
    ring.publish(FrameMeta(seq, seq, seq / 10, time.monotonic(), SIZE, SIZE, 1.0, 1.0, 0, 0))
    return seq


def never() -> bool:
    return False


def test_batches_mix_cameras_and_leave_when_all_active_cameras_are_in(rings):
    readers, writers = rings
    batcher = Batcher(readers, max_batch=4, max_wait=5.0)
    seqs = [publish(writer) for writer in writers]
    started = time.monotonic()
    picks = batcher.gather(never)
    assert sorted((p.camera, p.seq) for p in picks) == [(0, seqs[0]), (1, seqs[1]), (2, seqs[2])]
    assert time.monotonic() - started < 5.0  # did not wait for max_wait: every camera was in


def test_newest_frame_wins_and_older_ones_are_counted(rings):
    readers, writers = rings
    batcher = Batcher(readers, max_batch=4, max_wait=0.02)
    for writer in writers:
        publish(writer)
    batcher.gather(never)
    fast = [publish(writers[0]) for _ in range(3)]  # a fast camera: three frames meanwhile
    picks = batcher.gather(never)
    assert [(p.camera, p.seq) for p in picks] == [(0, fast[-1])]
    assert batcher.superseded == 2
    frame = np.empty((SIZE, SIZE, 3), np.uint8)
    meta = readers[0].read_into(picks[0].slot, frame)
    assert meta is not None and meta.seq == fast[-1] and (frame == fast[-1] % 256).all()


def test_partial_batch_goes_out_after_max_wait(rings):
    readers, writers = rings
    batcher = Batcher(readers, max_batch=4, max_wait=0.05)
    for writer in writers:
        publish(writer)
    batcher.gather(never)  # all three cameras are now known to be active
    seq = publish(writers[1])
    started = time.monotonic()
    picks = batcher.gather(never)
    assert [(p.camera, p.seq) for p in picks] == [(1, seq)]
    assert time.monotonic() - started >= 0.05 - 1e-3  # it waited for the slower cameras


def test_full_batch_leaves_at_once_and_longest_waiting_first(rings):
    readers, writers = rings
    batcher = Batcher(readers, max_batch=2, max_wait=5.0)
    publish(writers[2])
    assert [p.camera for p in batcher.gather(never)] == [2]  # alone, the only active camera
    publish(writers[2])
    batcher._ready(time.monotonic())  # camera 2 is seen waiting first
    publish(writers[0])
    publish(writers[1])
    first = batcher.gather(never)
    assert len(first) == 2 and first[0].camera == 2
    second = batcher.gather(never)
    assert len(second) == 1 and second[0].camera not in {p.camera for p in first}


def test_idle_gather_returns_empty_so_the_loop_can_beat(rings):
    readers, _ = rings
    assert Batcher(readers, max_batch=4, max_wait=0.01).gather(never, idle_timeout=0.05) == []
