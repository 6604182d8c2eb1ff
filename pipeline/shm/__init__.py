"""Shared-memory transport: frame and result rings per camera, and the status board."""

from pipeline.shm.board import BoardRow, StatusBoard
from pipeline.shm.ring import FrameMeta, FrameRing, Result, ResultRing
from pipeline.shm.segments import (
    SegmentNames,
    ShmSpaceError,
    attach_segment,
    create_segment,
    remove_stale_segments,
    run_prefix,
    shm_free_bytes,
    unlink_segment,
)
from pipeline.shm.states import ProcessState, StreamState

__all__ = [
    "BoardRow",
    "FrameMeta",
    "FrameRing",
    "ProcessState",
    "Result",
    "ResultRing",
    "SegmentNames",
    "ShmSpaceError",
    "StatusBoard",
    "StreamState",
    "attach_segment",
    "create_segment",
    "remove_stale_segments",
    "run_prefix",
    "shm_free_bytes",
    "unlink_segment",
]
