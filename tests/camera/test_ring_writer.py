"""RingWriter: one frame into every view's ring under one seq, each with the header that maps
its pixels back to the frame; a smaller view made from the larger view's content."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pipeline.camera.ring_writer import RingWriter
from pipeline.camera.sources import CapturedFrame
from pipeline.infer.letterbox import Letterbox
from pipeline.shm.layout import FrameView
from pipeline.shm.ring import FrameRing
from pipeline.shm.segments import SegmentNames, run_prefix
from pipeline.synthetic import WorksiteScene

VIEWS = (FrameView(320, 320), FrameView(160, 160, stretch=True), FrameView(512, 288))


@pytest.fixture
def rings():
    names = SegmentNames(run_prefix("writer-test"))
    created = [
        FrameRing.create(names.frames(0, index), 4, view.height, view.width)
        for index, view in enumerate(VIEWS)
    ]
    yield created
    for ring in created:
        ring.close()
        ring.unlink()


def frame(index: int) -> CapturedFrame:
    image, _ = WorksiteScene(seed=4242, width=640, height=360).render(index)
    return CapturedFrame(image, index, index / 10, time.monotonic())


def test_every_view_gets_the_frame_and_its_geometry(rings):
    writer = RingWriter(rings, VIEWS)
    sent = frame(3)
    seq = writer.send(sent)
    expected = [
        Letterbox.fit(640, 360, 320, 320),
        Letterbox.stretch(640, 360, 160, 160),
        Letterbox.fit(640, 360, 512, 288),
    ]
    for ring, view, letterbox in zip(rings, VIEWS, expected, strict=True):
        assert ring.newest() == (seq, seq % 4)
        pixels = np.empty((view.height, view.width, 3), np.uint8)
        meta = ring.read_into(seq % 4, pixels)
        assert meta is not None and meta.seq == seq and meta.source_index == 3
        assert (meta.orig_w, meta.orig_h, meta.pad_x, meta.pad_y) == (
            640,
            360,
            letterbox.pad_x,
            letterbox.pad_y,
        )
        assert round(meta.scale_x * 640) == letterbox.new_w
        assert round(meta.scale_y * 360) == letterbox.new_h
        # Made from the 512x288 view's content or from the frame: the same picture.
        direct = letterbox.apply(sent.image)
        difference = np.abs(pixels.astype(np.int16) - direct.astype(np.int16))
        assert difference.mean() < 4, f"{view.describe()}: mean difference {difference.mean()}"


def test_views_left_a_frame_apart_by_a_killed_writer_continue_together(rings):
    """A camera killed between writing two views leaves one ring a frame ahead; its
    replacement numbers the next frame after the newest, in every view."""
    first = RingWriter(rings[:1], VIEWS[:1])
    first.send(frame(0))
    first.send(frame(1))
    writer = RingWriter(rings, VIEWS)
    seq = writer.send(frame(2))
    assert seq == 3
    assert [ring.newest() for ring in rings] == [(3, 3)] * 3
