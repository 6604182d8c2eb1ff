"""The site's shared-memory layout: one object, built once by the supervisor, handed to every
child in its task, so that no process re-derives a segment name, a ring geometry or a row.

Per camera: one FrameRing per *view* (a distinct model input: size and resize mode; two
models of the same input share a view) and one ResultRing holding the detections of every
model for a frame. One StatusBoard for the site: row 0 the inference process, then the
cameras in config order, then one row per model (written by the inference process: backend,
latency, images/s), then the event delivery process's row when the site has sinks.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.shm.board import StatusBoard
from pipeline.shm.ring import FrameRing, ResultRing
from pipeline.shm.segments import SegmentNames

INFERENCE_ROW = 0


@dataclass(frozen=True)
class FrameView:
    """How a camera frame is resized into one model input: `width` x `height` pixels, either
    letterboxed (aspect kept, padded) or stretched (Ultralytics RT-DETR's preprocessing)."""

    width: int
    height: int
    stretch: bool = False

    def describe(self) -> str:
        return f"{self.width}x{self.height} {'stretched' if self.stretch else 'letterboxed'}"


@dataclass(frozen=True)
class SiteLayout:
    segments: SegmentNames
    cameras: int
    ring_slots: int
    views: tuple[FrameView, ...]  # view 0 is the one the batcher watches
    max_detections: int  # result rows per frame: every model's max_detections together
    models: int = 1
    delivery: bool = False  # an event delivery process (the site has sinks)

    def __post_init__(self) -> None:
        if self.cameras < 1 or not self.views or self.models < 1:
            raise ValueError(
                f"a site needs cameras, views and models, got {self.cameras}, {self.views}, "
                f"{self.models}"
            )

    @property
    def board_rows(self) -> int:
        return 1 + self.cameras + self.models + int(self.delivery)

    @property
    def delivery_row(self) -> int:
        """Board row of the event delivery process (only when `delivery`)."""
        if not self.delivery:
            raise ValueError("this site has no event delivery process")
        return 1 + self.cameras + self.models

    @staticmethod
    def camera_row(camera_index: int) -> int:
        """Board row of camera `camera_index` (0-based, config order)."""
        return camera_index + 1

    def model_row(self, model_index: int) -> int:
        """Board row of model `model_index` (0-based, the site's model order)."""
        return 1 + self.cameras + model_index

    def frame_ring_name(self, camera_index: int, view: int) -> str:
        return self.segments.frames(camera_index, view)

    def attach_board(self) -> StatusBoard:
        return StatusBoard.attach(self.segments.board(), self.board_rows)

    def attach_frame_rings(self, camera_index: int) -> list[FrameRing]:
        """The camera's rings, one per view, in view order."""
        return [
            FrameRing.attach(
                self.frame_ring_name(camera_index, index), self.ring_slots, view.height, view.width
            )
            for index, view in enumerate(self.views)
        ]

    def attach_results(self, camera_index: int) -> ResultRing:
        return ResultRing.attach(
            self.segments.results(camera_index), self.ring_slots, self.max_detections
        )

    def nbytes(self) -> int:
        """Every segment of the site together, bytes."""
        frames = sum(FrameRing.nbytes(self.ring_slots, v.height, v.width) for v in self.views)
        results = ResultRing.nbytes(self.ring_slots, self.max_detections)
        return StatusBoard.nbytes(self.board_rows) + self.cameras * (frames + results)

    def create(self) -> tuple[StatusBoard, list[FrameRing | ResultRing]]:
        """Create every segment (the supervisor); the caller closes and unlinks them. On a
        failure part-way, what was created is removed again before the error propagates."""
        board = StatusBoard.create(self.segments.board(), self.board_rows)
        rings: list[FrameRing | ResultRing] = []
        try:
            for camera in range(self.cameras):
                for index, view in enumerate(self.views):
                    rings.append(
                        FrameRing.create(
                            self.frame_ring_name(camera, index),
                            self.ring_slots,
                            view.height,
                            view.width,
                        )
                    )
                rings.append(
                    ResultRing.create(
                        self.segments.results(camera), self.ring_slots, self.max_detections
                    )
                )
        except BaseException:
            for segment in [*rings, board]:
                segment.close()
                segment.unlink()
            raise
        return board, rings
