"""The camera's side of the frame ring: letterbox a captured frame straight into a free slot
and publish it with everything needed to map boxes back to the frame."""

from __future__ import annotations

from pipeline.camera.sources import CapturedFrame
from pipeline.infer.letterbox import Letterbox
from pipeline.shm.ring import FrameMeta, FrameRing


class RingWriter:
    """One per camera; keeps a Letterbox per frame size, so a stream that changes resolution
    mid-way is letterboxed correctly from its first frame of the new size."""

    def __init__(self, ring: FrameRing, input_size: tuple[int, int]) -> None:
        self.ring = ring
        self._input_size = input_size  # model input (width, height), pixels
        self._letterboxes: dict[tuple[int, int], Letterbox] = {}

    def send(self, frame: CapturedFrame) -> int:
        """Write and publish `frame`; returns its seq."""
        height, width = frame.image.shape[:2]
        letterbox = self._letterboxes.get((width, height))
        if letterbox is None:
            letterbox = Letterbox.fit(width, height, *self._input_size)
            self._letterboxes[(width, height)] = letterbox
        seq = self.ring.next_seq
        letterbox.apply(frame.image, out=self.ring.begin_write())
        self.ring.publish(
            FrameMeta(
                seq=seq,
                source_index=frame.index,
                pts=frame.pts,
                captured_at=frame.captured_at,
                orig_w=width,
                orig_h=height,
                scale_x=letterbox.scale_x,
                scale_y=letterbox.scale_y,
                pad_x=letterbox.pad_x,
                pad_y=letterbox.pad_y,
            )
        )
        return seq
