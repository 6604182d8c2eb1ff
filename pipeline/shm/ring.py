"""Seqlock slot rings in shared memory: letterboxed frames to inference, detections back.

One FrameRing and one ResultRing per camera. The camera process is the only writer of its
FrameRing and the only reader of its ResultRing; the inference process the reverse. Neither
side ever blocks on the other and either may be killed and restarted at any moment: nothing
here holds a lock that a dead process could keep. The layout and the memory-ordering
assumptions are described in pipeline/shm/seqlock.py.

Frame seqs start at 1 and increase by one per published frame; a frame with seq `s` lives in
slot `s % slots`, and so does its result.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from pipeline.detections import COLUMNS, Detections
from pipeline.shm.seqlock import PAGE, RingLayout, SeqlockSegment, next_odd, padded_dtype

logger = logging.getLogger(__name__)

CHANNELS = 3
_FRAME_MAGIC = int.from_bytes(b"VIGFRAME", "little")
_RESULT_MAGIC = int.from_bytes(b"VIGRESLT", "little")

FRAME_HEADER_DTYPE = padded_dtype(
    [
        ("lock", "u8"),
        ("seq", "u8"),  # 0: the slot holds no frame
        ("source_index", "i8"),
        ("pts", "f8"),
        ("captured_at", "f8"),
        ("orig_w", "i4"),
        ("orig_h", "i4"),
        ("scale_x", "f8"),
        ("scale_y", "f8"),
        ("pad_x", "i4"),
        ("pad_y", "i4"),
    ]
)

RESULT_HEADER_DTYPE = padded_dtype(
    [
        ("lock", "u8"),
        ("frame_seq", "u8"),  # 0: the slot holds no result
        ("count", "i4"),
        ("batch_size", "i4"),
        ("infer_ms", "f4"),
        ("done_at", "f8"),
    ]
)


@dataclass(frozen=True, slots=True)
class FrameMeta:
    """What travels with a letterboxed frame (same order as the slot header after `lock`).

    `seq`: frame number of this camera, from 1, strictly increasing (also across a restart of
    the camera process). `source_index`: index of the frame in its source. `pts`: source
    timestamp, seconds. `captured_at`: time.monotonic() when the frame was decoded.
    `orig_w`/`orig_h`: original frame size, pixels. `scale_x`/`scale_y`/`pad_x`/`pad_y`: the
    letterbox, input = original * scale + pad (input pixels).
    """

    seq: int
    source_index: int
    pts: float
    captured_at: float
    orig_w: int
    orig_h: int
    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int


def frame_layout(slots: int, height: int, width: int) -> RingLayout:
    return RingLayout(
        kind="frame ring",
        magic=_FRAME_MAGIC,
        slots=slots,
        header_dtype=FRAME_HEADER_DTYPE,
        payload_shape=(height, width, CHANNELS),
        payload_dtype=np.dtype(np.uint8),
        dims=(height, width),
        align=PAGE,  # a slot never shares a page with another slot
    )


class FrameRing:
    """`slots` letterboxed uint8 frames (height x width x 3) of one camera, with their meta.

    Writer (camera process, exactly one at a time):
        seq = ring.next_seq
        pixels = ring.begin_write()          # slot marked busy
        letterbox.apply(frame, out=pixels)   # write straight into shared memory
        ring.publish(FrameMeta(seq=seq, ...))
    Reader (inference process):
        newest = ring.newest()               # (seq, slot) or None; copies nothing
        meta = ring.read_into(slot, batch[i])  # None: the slot changed during the copy
    """

    def __init__(self, segment: SeqlockSegment) -> None:
        self._segment = segment
        layout = segment.layout
        self.slots = layout.slots
        self.height, self.width = layout.dims
        self._headers = segment.headers
        self._locks = segment.locks
        self._published = segment.published
        self._slot_pixels = [segment.payload[slot] for slot in range(self.slots)]
        self._next_seq = self.last_seq() + 1
        self._writing: int | None = None  # seq between begin_write() and publish()
        self._claimed = False  # whether this object has repaired the ring for writing

    @staticmethod
    def nbytes(slots: int, height: int, width: int) -> int:
        """Size of the segment, bytes."""
        return frame_layout(slots, height, width).nbytes

    @classmethod
    def create(cls, name: str, slots: int, height: int, width: int) -> FrameRing:
        """Create the ring's segment (supervisor); see segments.create_segment."""
        return cls(SeqlockSegment.create(name, frame_layout(slots, height, width)))

    @classmethod
    def attach(cls, name: str, slots: int, height: int, width: int) -> FrameRing:
        """Attach to an existing ring; ValueError if it was created with another geometry."""
        return cls(SeqlockSegment.attach(name, frame_layout(slots, height, width)))

    @property
    def name(self) -> str:
        return self._segment.name

    @property
    def next_seq(self) -> int:
        """The seq of the frame the writer is writing or will write next."""
        return self._writing if self._writing is not None else self._next_seq

    def close(self) -> None:
        """Unmap; views returned by begin_write() must no longer be used."""
        self._slot_pixels = []
        self._segment.close()

    def unlink(self) -> None:
        """Remove the segment (the creator, at shutdown)."""
        self._segment.unlink()

    # -- writer ---------------------------------------------------------------------------

    def begin_write(self) -> np.ndarray:
        """Mark the slot of `next_seq` busy and return its pixels (height x width x 3 uint8).

        Called again before publish() it returns the same slot. The first call on a ring
        attached by a restarted writer first repairs what the previous writer left (claim()).
        """
        if self._writing is not None:
            return self._slot_pixels[self._writing % self.slots]
        if not self._claimed:
            self.claim()
        seq = self._next_seq
        slot = seq % self.slots
        self._locks[slot] = next_odd(int(self._locks[slot]))
        self._writing = seq
        return self._slot_pixels[slot]

    def publish(self, meta: FrameMeta) -> None:
        """Fill the busy slot's header from `meta` and make the frame visible to readers."""
        seq = self._writing
        if seq is None:
            raise RuntimeError(f"{self.name}: publish() without begin_write()")
        if meta.seq != seq:
            raise ValueError(f"{self.name}: publishing seq {meta.seq} into the slot of seq {seq}")
        slot = seq % self.slots
        odd = int(self._locks[slot])
        self._headers[slot] = (
            odd,
            seq,
            meta.source_index,
            meta.pts,
            meta.captured_at,
            meta.orig_w,
            meta.orig_h,
            meta.scale_x,
            meta.scale_y,
            meta.pad_x,
            meta.pad_y,
        )
        self._locks[slot] = odd + 1  # the frame is consistent from here on
        self._published[0] = seq
        self._writing = None
        self._next_seq = seq + 1

    def advance_to(self, seq: int) -> None:
        """Number the next frame `seq` (>= next_seq): keeps the rings of one camera's views
        in step after a writer died between writing one view and the next."""
        if self._writing is not None or seq < self._next_seq:
            raise ValueError(f"{self.name}: cannot move from seq {self.next_seq} to {seq}")
        self._next_seq = seq

    def abort_write(self) -> None:
        """Give up the frame begun with begin_write(): its slot is left empty, its seq reused."""
        seq = self._writing
        if seq is None:
            return
        self._empty_slot(seq % self.slots)
        self._writing = None

    def claim(self) -> None:
        """Take over as the ring's writer: empty any slot left busy by a writer that died
        between begin_write() and publish(), and continue after the newest published seq.

        Call only when no other writer is alive (the supervisor reaps the old camera process
        before starting its replacement). begin_write() calls it on first use.
        """
        for slot in range(self.slots):
            if int(self._locks[slot]) & 1:
                logger.warning(
                    "%s: slot %d was left mid-write by a previous writer; emptied", self.name, slot
                )
                self._empty_slot(slot)
        last = self.last_seq()
        self._published[0] = last
        self._next_seq = last + 1
        self._claimed = True

    def _empty_slot(self, slot: int) -> None:
        odd = next_odd(int(self._locks[slot]))
        self._locks[slot] = odd
        self._headers["seq"][slot] = 0
        self._locks[slot] = odd + 1

    # -- reader ---------------------------------------------------------------------------

    def last_seq(self) -> int:
        """The highest published seq (0: nothing published yet)."""
        locks = self._locks.copy()
        seqs = self._headers["seq"].copy()
        in_slots = seqs[(locks & 1) == 0]
        newest_in_slots = int(in_slots.max()) if in_slots.size else 0
        return max(int(self._published[0]), newest_in_slots)

    def newest(self) -> tuple[int, int] | None:
        """(seq, slot) of the newest published frame, or None; copies nothing.

        A hint: by the time the caller reads the slot the writer may have moved on, which
        read_into() detects.
        """
        seq = int(self._published[0])
        return None if seq == 0 else (seq, seq % self.slots)

    def read_into(self, slot: int, out: np.ndarray) -> FrameMeta | None:
        """Copy slot `slot`'s pixels into `out` (height x width x 3 uint8) and return its meta.

        None when the slot is empty, busy, or was rewritten during the copy (a torn read: the
        contents of `out` are then unspecified; count it and skip the frame).
        """
        if out.shape != (self.height, self.width, CHANNELS) or out.dtype != np.uint8:
            raise ValueError(
                f"expected out of shape ({self.height}, {self.width}, {CHANNELS}) uint8, "
                f"got {out.shape} {out.dtype}"
            )
        lock = int(self._locks[slot])
        if lock & 1:
            return None
        fields = self._headers[slot].item()
        if fields[1] == 0:
            return None
        np.copyto(out, self._slot_pixels[slot])
        if int(self._locks[slot]) != lock:
            return None
        return FrameMeta(*fields[1:])


@dataclass(frozen=True, eq=False)
class Result:
    """The inference process's answer for one frame.

    `detections`: boxes in ORIGINAL frame pixels, every model's. `batch_size`: the batch the frame was inferred in. `infer_ms`: that batch's
    inference time, milliseconds. `done_at`: time.monotonic() when the result was written.
    """

    frame_seq: int
    detections: Detections
    batch_size: int
    infer_ms: float
    done_at: float


def result_layout(slots: int, max_detections: int) -> RingLayout:
    return RingLayout(
        kind="result ring",
        magic=_RESULT_MAGIC,
        slots=slots,
        header_dtype=RESULT_HEADER_DTYPE,
        payload_shape=(max_detections, len(COLUMNS)),
        payload_dtype=np.dtype(np.float32),
        dims=(max_detections, len(COLUMNS)),
        align=64,
    )


class ResultRing:
    """One camera's results, slot `frame_seq % slots`; written by inference, read by the camera.

    A result stays readable until the result of frame `frame_seq + slots` replaces it, so a
    camera must keep fewer than `slots` frames in flight.
    """

    def __init__(self, segment: SeqlockSegment) -> None:
        self._segment = segment
        self.slots = segment.layout.slots
        self.max_detections = segment.layout.dims[0]
        self._headers = segment.headers
        self._locks = segment.locks
        self._detections = segment.payload

    @staticmethod
    def nbytes(slots: int, max_detections: int) -> int:
        """Size of the segment, bytes."""
        return result_layout(slots, max_detections).nbytes

    @classmethod
    def create(cls, name: str, slots: int, max_detections: int) -> ResultRing:
        return cls(SeqlockSegment.create(name, result_layout(slots, max_detections)))

    @classmethod
    def attach(cls, name: str, slots: int, max_detections: int) -> ResultRing:
        return cls(SeqlockSegment.attach(name, result_layout(slots, max_detections)))

    @property
    def name(self) -> str:
        return self._segment.name

    def close(self) -> None:
        self._segment.close()

    def unlink(self) -> None:
        self._segment.unlink()

    def write(
        self, frame_seq: int, detections: Detections, batch_size: int, infer_ms: float
    ) -> None:
        """Store the result of frame `frame_seq` (replacing frame `frame_seq - slots`'s).

        `detections`: boxes in original frame pixels. Beyond `max_detections` rows, the
        highest scores are kept (in their original order).
        """
        if frame_seq < 1:
            raise ValueError(f"frame seqs start at 1, got {frame_seq}")
        if len(detections) > self.max_detections:
            best = np.argpartition(-detections.score, self.max_detections - 1)
            detections = detections[np.sort(best[: self.max_detections])]
        count = len(detections)
        slot = frame_seq % self.slots
        odd = next_odd(int(self._locks[slot]))
        self._locks[slot] = odd
        detections.to_rows(out=self._detections[slot, :count])
        self._headers[slot] = (odd, frame_seq, count, batch_size, infer_ms, time.monotonic())
        self._locks[slot] = odd + 1

    def read(self, frame_seq: int) -> Result | None:
        """A copy of frame `frame_seq`'s result; None if absent, replaced or being written."""
        slot = frame_seq % self.slots
        lock = int(self._locks[slot])
        if lock & 1:
            return None
        _, stored_seq, count, batch_size, infer_ms, done_at = self._headers[slot].item()
        if stored_seq != frame_seq or not 0 <= count <= self.max_detections:
            return None
        detections = Detections.from_rows(self._detections[slot, :count])  # a copy
        if int(self._locks[slot]) != lock:
            return None
        return Result(frame_seq, detections, batch_size, infer_ms, done_at)
