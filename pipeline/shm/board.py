"""The status board: one shared-memory table with a row per process.

Row 0 is the inference process, rows 1..N the cameras in config order. Each field has a
single writer: the supervisor writes `pid`, `proc_state` and `restarts`; the process owning
the row writes everything else, `heartbeat` from its own work loop (never from a side
thread, so that a hung loop stops the heartbeat). Readers (dashboard, metrics endpoint,
supervisor health checks) take snapshot() copies.

Rows are padded to 64-byte cache lines so that processes updating their own rows on every
frame do not contend for a line. Fields are naturally aligned, so an 8-byte field is stored
and loaded whole on x86-64 and ARM64; a snapshot taken while a process updates several fields
may mix old and new values across fields, which monitoring tolerates.
"""

from __future__ import annotations

from enum import IntEnum
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Generic, TypeVar

import numpy as np

from pipeline.shm.segments import attach_segment, close_segment, create_segment, unlink_segment
from pipeline.shm.seqlock import CACHE_LINE, padded_dtype
from pipeline.shm.states import ProcessState, StreamState

__all__ = ["BOARD_DTYPE", "BoardRow", "ProcessState", "StatusBoard", "StreamState"]

BACKEND_CHARS = 16
REASON_CHARS = 48

BOARD_DTYPE = padded_dtype(
    [
        ("heartbeat", "f8"),  # time.monotonic() of the process's last work-loop iteration
        ("pid", "i8"),  # supervisor
        ("proc_state", "i4"),  # supervisor; ProcessState
        ("stream_state", "i4"),  # StreamState (cameras)
        ("restarts", "i4"),  # supervisor
        ("detections_last", "i4"),  # detections in the last handled frame
        ("persons", "i4"),  # tracked persons in view (cameras)
        ("violations_open", "i4"),  # violation episodes open now (cameras)
        ("frames_in", "u8"),  # frames decoded
        ("frames_sent", "u8"),  # frames written to the ring
        ("frames_done", "u8"),  # results received and handled
        ("dropped_source", "u8"),  # dropped at the source: too many frames in flight
        ("dropped_stale", "u8"),  # superseded by a newer frame, or never answered
        ("torn_reads", "u8"),
        ("detections_total", "u8"),
        ("batches", "u8"),
        ("reconnects", "u8"),
        ("decode_errors", "u8"),  # frames the decoder rejected (corrupt bitstream), skipped
        ("skipped_frames", "u8"),  # frames missing from the stream's timestamps
        ("violations_total", "u8"),  # violation episodes started (cameras)
        ("fps_in", "f4"),
        ("fps_done", "f4"),
        ("fps_target", "f4"),
        ("latency_ms", "f4"),  # capture -> result handled, mean over the last second
        ("infer_ms", "f4"),
        ("batch_mean", "f4"),
        ("images_per_s", "f4"),
        ("backend", f"S{BACKEND_CHARS}"),  # inference backend name, ASCII
        # models: why `backend: auto` took that backend, a few words ASCII ("" when named)
        ("backend_reason", f"S{REASON_CHARS}"),
        ("updated", "f8"),  # time.monotonic() of the last write of the counters
        # inference: time.monotonic() when the model call in progress started, 0 between
        # calls; the supervisor judges a call stuck by it while the loop is blocked
        ("model_call_started", "f8"),
        # event delivery: events the outbox holds, the most any one sink has pending, events
        # ever dropped or refused by a full outbox, sinks failing now
        ("events_held", "u8"),
        ("events_pending", "u8"),
        ("events_dropped", "u8"),
        ("sinks_failing", "i4"),
    ],
    CACHE_LINE,
)

_MAGIC = int.from_bytes(b"VIGBOARD", "little")
_VERSION = 6  # 2: decode_errors, skipped_frames; 3: persons, violations; 4: model_call_started;
# 5: events_held, events_pending, events_dropped, sinks_failing; 6: backend_reason
_HEADER_DTYPE = padded_dtype([("magic", "u8"), ("version", "u4"), ("rows", "u4")], CACHE_LINE)

T = TypeVar("T")
E = TypeVar("E", bound=IntEnum)


class _Field(Generic[T]):
    """A typed attribute of BoardRow backed by one column of the shared table."""

    def __init__(self, convert: type[T]) -> None:
        self._convert = convert
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, row: BoardRow, owner: type | None = None) -> T:
        return self._convert(row._record[self._name])  # type: ignore[call-arg]

    def __set__(self, row: BoardRow, value: T) -> None:
        row._record[self._name] = value


class _EnumField(Generic[E]):
    def __init__(self, enum: type[E]) -> None:
        self._enum = enum
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, row: BoardRow, owner: type | None = None) -> E:
        return self._enum(int(row._record[self._name]))

    def __set__(self, row: BoardRow, value: E) -> None:
        row._record[self._name] = int(value)


class _TextField:
    """ASCII text of at most `chars` bytes; a longer value is cut."""

    def __init__(self, chars: int) -> None:
        self._chars = chars
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, row: BoardRow, owner: type | None = None) -> str:
        return bytes(row._record[self._name]).decode("ascii", "replace")

    def __set__(self, row: BoardRow, value: str) -> None:
        row._record[self._name] = value.encode("ascii", "replace")[: self._chars]


class BoardRow:
    """Attribute access to one row of the board; writes go straight to shared memory.

    Counters are plain fields: `row.frames_in += 1` reads, adds and stores (safe because each
    field has one writer).
    """

    __slots__ = ("_record",)

    heartbeat = _Field(float)
    pid = _Field(int)
    proc_state = _EnumField(ProcessState)
    stream_state = _EnumField(StreamState)
    restarts = _Field(int)
    frames_in = _Field(int)
    frames_sent = _Field(int)
    frames_done = _Field(int)
    dropped_source = _Field(int)
    dropped_stale = _Field(int)
    torn_reads = _Field(int)
    detections_last = _Field(int)
    detections_total = _Field(int)
    persons = _Field(int)
    violations_open = _Field(int)
    violations_total = _Field(int)
    fps_in = _Field(float)
    fps_done = _Field(float)
    fps_target = _Field(float)
    latency_ms = _Field(float)
    infer_ms = _Field(float)
    batch_mean = _Field(float)
    images_per_s = _Field(float)
    batches = _Field(int)
    reconnects = _Field(int)
    decode_errors = _Field(int)
    skipped_frames = _Field(int)
    backend = _TextField(BACKEND_CHARS)
    backend_reason = _TextField(REASON_CHARS)
    updated = _Field(float)
    model_call_started = _Field(float)
    events_held = _Field(int)
    events_pending = _Field(int)
    events_dropped = _Field(int)
    sinks_failing = _Field(int)

    def __init__(self, record: Any) -> None:
        self._record = record  # a numpy.void viewing the row in shared memory

    def update(self, **fields: Any) -> None:
        """Set several fields at once, e.g. update(fps_in=24.8, latency_ms=41.0)."""
        for name, value in fields.items():
            setattr(self, name, value)


class StatusBoard:
    """The shared status table: `rows` rows of BOARD_DTYPE after a 64-byte header."""

    def __init__(self, shm: SharedMemory, rows: int) -> None:
        self._shm = shm
        self.rows = rows
        self._table = np.ndarray(
            (rows,), BOARD_DTYPE, buffer=shm.buf, offset=_HEADER_DTYPE.itemsize
        )
        self._header = np.ndarray((), _HEADER_DTYPE, buffer=shm.buf, offset=0)

    @staticmethod
    def nbytes(rows: int) -> int:
        """Size of the segment, bytes."""
        if rows < 1:
            raise ValueError(f"a status board needs at least 1 row, got {rows}")
        return _HEADER_DTYPE.itemsize + rows * BOARD_DTYPE.itemsize

    @classmethod
    def create(cls, name: str, rows: int) -> StatusBoard:
        """Create the board (supervisor), all rows zero (STOPPED, OFFLINE)."""
        shm = create_segment(name, cls.nbytes(rows))
        board = cls(shm, rows)
        board._header[()] = (_MAGIC, _VERSION, rows)
        return board

    @classmethod
    def attach(cls, name: str, rows: int) -> StatusBoard:
        """Attach to an existing board; ValueError if it has another row count."""
        shm = attach_segment(name)
        try:
            if shm.size < cls.nbytes(rows):
                raise ValueError(
                    f"segment {name!r} has {shm.size:,} bytes, a board of {rows} rows needs "
                    f"{cls.nbytes(rows):,}"
                )
            header = np.ndarray((), _HEADER_DTYPE, buffer=shm.buf).item()
            if header != (_MAGIC, _VERSION, rows):
                magic, version, found_rows = header
                raise ValueError(
                    f"segment {name!r} is not a status board of {rows} rows (found "
                    f"magic={magic:#x} version={version} rows={found_rows})"
                )
        except BaseException:
            close_segment(shm)
            raise
        return cls(shm, rows)

    @property
    def name(self) -> str:
        return self._shm.name

    def row(self, index: int) -> BoardRow:
        """Writable access to row `index` (0: inference, 1..N: cameras)."""
        if not 0 <= index < self.rows:
            raise IndexError(f"board row {index} out of range 0..{self.rows - 1}")
        return BoardRow(self._table[index])

    def snapshot(self) -> np.ndarray:
        """A copy of every row (structured array of BOARD_DTYPE), for readers."""
        return self._table.copy()

    def close(self) -> None:
        """Unmap; BoardRow objects from row() must be dropped first."""
        self._table = np.empty(0, BOARD_DTYPE)
        self._header = np.empty((), _HEADER_DTYPE)
        close_segment(self._shm)

    def unlink(self) -> None:
        """Remove the segment (the creator, at shutdown)."""
        unlink_segment(self._shm)
