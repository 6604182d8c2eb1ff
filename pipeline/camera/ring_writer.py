"""The camera's side of the frame rings: resize a captured frame straight into a free slot of
each view's ring (one per distinct model input) and publish it with everything needed to map
boxes back to the frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.camera.sources import CapturedFrame
from pipeline.infer.letterbox import Letterbox
from pipeline.shm.layout import FrameView
from pipeline.shm.ring import FrameMeta, FrameRing


class RingWriter:
    """One per camera. Every frame gets the same seq in every view's ring; view 0, the ring
    the inference process watches, is published last, so when it shows a frame the other
    views hold it too.

    The largest view is resized from the decoded frame; a smaller view is resized from the
    larger view's image content (the frame without letterbox padding) when that is at least
    as large as the smaller view's image in both axes: one more downscale of an already
    area-averaged image, at a fraction of the cost of going back to the full frame (see
    bench/README.md, "Models of different input sizes"). Letterboxes are kept per source
    size and view, so a stream that changes resolution mid-way is resized correctly from its
    first frame of the new size.
    """

    def __init__(self, rings: Sequence[FrameRing], views: Sequence[FrameView]) -> None:
        if len(rings) != len(views) or not rings:
            raise ValueError(f"expected one ring per view, got {len(rings)} for {len(views)}")
        self.rings = list(rings)
        self._views = list(views)
        # A writer killed between two views left them a frame apart: continue after the newest.
        for ring in self.rings:
            ring.claim()
        seq = max(ring.next_seq for ring in self.rings)
        for ring in self.rings:
            ring.advance_to(seq)
        self._largest_first = sorted(
            range(len(views)), key=lambda index: -views[index].width * views[index].height
        )
        self._letterboxes: dict[tuple[int, int, int], Letterbox] = {}

    def _letterbox(self, width: int, height: int, view_index: int) -> Letterbox:
        key = (width, height, view_index)
        letterbox = self._letterboxes.get(key)
        if letterbox is None:
            view = self._views[view_index]
            resize = Letterbox.stretch if view.stretch else Letterbox.fit
            letterbox = self._letterboxes[key] = resize(width, height, view.width, view.height)
        return letterbox

    def send(self, frame: CapturedFrame) -> int:
        """Write and publish `frame` into every view; returns its seq."""
        height, width = frame.image.shape[:2]
        seq = self.rings[0].next_seq
        metas: dict[int, FrameMeta] = {}
        base: tuple[np.ndarray, Letterbox] | None = None  # the largest view's content
        for index in self._largest_first:
            out = self.rings[index].begin_write()
            full = self._letterbox(width, height, index)
            source = frame.image
            if base is not None and base[1].new_w >= full.new_w and base[1].new_h >= full.new_h:
                source = base[0]
            letterbox = self._letterbox(source.shape[1], source.shape[0], index)
            letterbox.apply(source, out=out)
            if base is None:
                base = (
                    out[
                        letterbox.pad_y : letterbox.pad_y + letterbox.new_h,
                        letterbox.pad_x : letterbox.pad_x + letterbox.new_w,
                    ],
                    letterbox,
                )
            # The content covers the whole frame, so these map input pixels to the frame.
            metas[index] = FrameMeta(
                seq=seq,
                source_index=frame.index,
                pts=frame.pts,
                captured_at=frame.captured_at,
                orig_w=width,
                orig_h=height,
                scale_x=letterbox.new_w / width,
                scale_y=letterbox.new_h / height,
                pad_x=letterbox.pad_x,
                pad_y=letterbox.pad_y,
            )
        for index in reversed(range(len(self.rings))):
            self.rings[index].publish(metas[index])
        return seq
