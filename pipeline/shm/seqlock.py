"""The segment layout and lifecycle shared by FrameRing and ResultRing.

A ring segment is laid out as

    control block (64 bytes: magic, layout version, slot count, payload dims, published seq)
    slot headers  (slots x header dtype, each padded to 64 bytes; `lock` first)
    payloads      (slots x payload, each starting on an `align`-byte boundary)

Every header starts with `lock`, a uint64 seqlock counter: odd while its slot is being
written, even when the slot is consistent. A writer makes it odd, writes, then makes it even
(one more); a reader reads it, copies, and reads it again: equal and even means the copy is
consistent.

Memory ordering. Both sides are plain loads and stores through numpy; nothing issues a fence.
That is enough on x86-64 (TSO): stores become visible in program order and loads are not
reordered with other loads, so a reader that sees the same even lock before and after its
copy saw no store of a concurrent write. It also relies on the 8-byte aligned lock being
stored and loaded whole (numpy copies an aligned uint64 element with one instruction), on
CPython not reordering anything (each numpy call is an opaque C call, run in bytecode order),
and on glibc fencing its non-temporal stores (its large memcpy/memset end with sfence). On
ARM (Jetson) loads and stores may be reordered: a reader could in theory miss a concurrent
write. There the rings rely on backpressure as well (a camera never writes a slot whose frame
is still in flight) so that a torn read is a rare second line of defence, not the normal case.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from pipeline.shm.segments import attach_segment, close_segment, create_segment, unlink_segment

logger = logging.getLogger(__name__)

LAYOUT_VERSION = 1
CACHE_LINE = 64
PAGE = 4096


def padded_dtype(fields: list[tuple[str, str]], multiple: int = CACHE_LINE) -> np.dtype:
    """A C-aligned structured dtype whose itemsize is rounded up to `multiple` bytes."""
    aligned = np.dtype(fields, align=True)
    itemsize = math.ceil(aligned.itemsize / multiple) * multiple
    assert aligned.fields is not None
    return np.dtype(
        {
            "names": list(aligned.names or ()),
            "formats": [aligned.fields[name][0] for name in aligned.names or ()],
            "offsets": [aligned.fields[name][1] for name in aligned.names or ()],
            "itemsize": itemsize,
        }
    )


CONTROL_DTYPE = padded_dtype(
    [
        ("magic", "u8"),
        ("version", "u4"),
        ("slots", "u4"),
        ("dim0", "u4"),
        ("dim1", "u4"),
        ("published", "u8"),  # FrameRing: the newest published seq (0: none yet)
    ]
)


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def next_odd(lock: int) -> int:
    """The odd lock value a writer sets before writing a slot whose lock is `lock`.

    An odd `lock` was left by a writer that died mid-write; stepping past it (rather than
    to the next even value) keeps the slot marked busy while it is rewritten.
    """
    return (lock + 1) | 1


@dataclass(frozen=True)
class RingLayout:
    """Byte layout of one ring segment; `dims` are the two payload dims kept in the control."""

    kind: str  # "frame ring" / "result ring", for error messages
    magic: int
    slots: int
    header_dtype: np.dtype
    payload_shape: tuple[int, ...]
    payload_dtype: np.dtype
    dims: tuple[int, int]
    align: int

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"a {self.kind} needs at least 1 slot, got {self.slots}")
        if min(self.payload_shape) < 1:
            raise ValueError(
                f"{self.kind} payload shape must be positive, got {self.payload_shape}"
            )
        if self.header_dtype.names is None or self.header_dtype.names[0] != "lock":
            raise ValueError("a slot header must start with the 'lock' field")

    @property
    def headers_offset(self) -> int:
        return CONTROL_DTYPE.itemsize

    @property
    def payload_offset(self) -> int:
        return round_up(self.headers_offset + self.slots * self.header_dtype.itemsize, self.align)

    @property
    def payload_stride(self) -> int:
        return round_up(math.prod(self.payload_shape) * self.payload_dtype.itemsize, self.align)

    @property
    def nbytes(self) -> int:
        return self.payload_offset + self.slots * self.payload_stride

    def describe(self) -> str:
        shape = "x".join(str(d) for d in self.payload_shape)
        return f"{self.kind} of {self.slots} slots of {shape} {self.payload_dtype}"


class SeqlockSegment:
    """A ring segment mapped into this process, with numpy views of its parts."""

    def __init__(self, shm: SharedMemory, layout: RingLayout) -> None:
        self._shm = shm
        self.layout = layout
        buf = shm.buf
        self.control = np.ndarray((), CONTROL_DTYPE, buffer=buf, offset=0)
        published_at = CONTROL_DTYPE.fields["published"][1]  # type: ignore[index]
        self.published = np.ndarray((1,), np.uint64, buffer=buf, offset=published_at)
        self.headers = np.ndarray(
            (layout.slots,), layout.header_dtype, buffer=buf, offset=layout.headers_offset
        )
        self.locks = np.ndarray(
            (layout.slots,),
            np.uint64,
            buffer=buf,
            offset=layout.headers_offset,
            strides=(layout.header_dtype.itemsize,),
        )
        item_strides = np.empty(layout.payload_shape, layout.payload_dtype).strides
        self.payload = np.ndarray(
            (layout.slots, *layout.payload_shape),
            layout.payload_dtype,
            buffer=buf,
            offset=layout.payload_offset,
            strides=(layout.payload_stride, *item_strides),
        )

    @classmethod
    def create(cls, name: str, layout: RingLayout) -> SeqlockSegment:
        shm = create_segment(name, layout.nbytes)
        try:
            segment = cls(shm, layout)
            segment.control[()] = (layout.magic, LAYOUT_VERSION, layout.slots, *layout.dims, 0)
        except BaseException:
            close_segment(shm)
            unlink_segment(shm)
            raise
        return segment

    @classmethod
    def attach(cls, name: str, layout: RingLayout) -> SeqlockSegment:
        shm = attach_segment(name)
        try:
            if shm.size < layout.nbytes:
                raise ValueError(
                    f"segment {name!r} has {shm.size:,} bytes, a {layout.describe()} needs "
                    f"{layout.nbytes:,}: creator and attacher disagree on the ring geometry"
                )
            segment = cls(shm, layout)
            magic, version, slots, dim0, dim1, _ = segment.control.item()
            expected = (layout.magic, LAYOUT_VERSION, layout.slots, *layout.dims)
            if (magic, version, slots, dim0, dim1) != expected:
                del segment
                raise ValueError(
                    f"segment {name!r} does not hold a {layout.describe()} "
                    f"(found magic={magic:#x} version={version} slots={slots} dims={dim0}x{dim1})"
                )
        except BaseException:
            close_segment(shm)
            raise
        return segment

    @property
    def name(self) -> str:
        return self._shm.name

    def close(self) -> None:
        """Drop this object's views and unmap the segment (views handed out must be gone)."""
        empty = np.empty(0, np.uint64)
        self.published = empty
        self.locks = empty
        self.control = np.empty((), CONTROL_DTYPE)
        self.headers = np.empty(0, self.layout.header_dtype)
        self.payload = np.empty((0, *self.layout.payload_shape), self.layout.payload_dtype)
        close_segment(self._shm)

    def unlink(self) -> None:
        """Remove the segment's name (creator only); a failure is logged."""
        unlink_segment(self._shm)
