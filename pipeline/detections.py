"""The one detections type: a struct of arrays, from decoding to every output.

Decoders produce it (boxes in model-input pixels until the inference process maps them back),
the result ring carries it as float32 rows (`to_rows` / `from_rows`), and the camera process
hands it to tracking, drawing and `detections.jsonl` with boxes in original-frame pixels.

Columns, in the order of the rows (`COLUMNS`):
    x1, y1, x2, y2   box corners, pixels (which space: see the producer's docstring)
    score            confidence 0-1
    class_id         the site-wide class id: index into the site's class list (every model's
                     classes follow the previous model's, so ids of two models never collide)
    model_index      which of the site's models produced the detection (0-based)
    track_id         the camera's tracker id, NO_TRACK until tracking assigns one
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

COLUMNS = ("x1", "y1", "x2", "y2", "score", "class_id", "model_index", "track_id")
NO_TRACK = -1
# Row values are float32, exact for integers up to 2**24: plenty for class, model and track ids.


@dataclass(frozen=True, eq=False)
class Detections:
    """N detections of one frame. Arrays are never shared with a caller's buffers by the
    constructors below (`from_rows` copies), so a Detections stays valid after the ring slot
    it was read from is rewritten."""

    xyxy: np.ndarray  # (N, 4) float32
    score: np.ndarray  # (N,) float32
    class_id: np.ndarray  # (N,) int32
    model_index: np.ndarray  # (N,) int32
    track_id: np.ndarray  # (N,) int32

    def __post_init__(self) -> None:
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy: expected shape (N, 4), got {self.xyxy.shape}")
        count = self.xyxy.shape[0]
        for name in COLUMNS[4:]:
            column = getattr(self, name)
            if column.shape != (count,):
                raise ValueError(f"{name}: expected shape ({count},), got {column.shape}")

    @classmethod
    def create(
        cls,
        xyxy: np.ndarray,
        score: np.ndarray,
        class_id: np.ndarray,
        model_index: int | np.ndarray = 0,
        track_id: np.ndarray | None = None,
    ) -> Detections:
        """From arrays of any numeric dtype; scalars `model_index` broadcast to every row."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        count = boxes.shape[0]
        return cls(
            xyxy=boxes,
            score=np.asarray(score, dtype=np.float32).reshape(-1),
            class_id=np.asarray(class_id, dtype=np.int32).reshape(-1),
            model_index=np.broadcast_to(np.asarray(model_index, dtype=np.int32), (count,)).copy(),
            track_id=(
                np.full(count, NO_TRACK, dtype=np.int32)
                if track_id is None
                else np.asarray(track_id, dtype=np.int32).reshape(-1)
            ),
        )

    @classmethod
    def empty(cls) -> Detections:
        return cls.create(np.zeros((0, 4)), np.zeros(0), np.zeros(0))

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> Detections:
        """From (N, len(COLUMNS)) rows in COLUMNS order (the result ring's payload); copies."""
        rows = np.array(rows, dtype=np.float32)  # a copy: the columns below are views of it
        if rows.ndim != 2 or rows.shape[1] != len(COLUMNS):
            raise ValueError(f"expected rows of shape (N, {len(COLUMNS)}), got {rows.shape}")
        return cls.create(
            rows[:, 0:4],
            rows[:, 4],
            np.rint(rows[:, 5]),
            np.rint(rows[:, 6]),
            np.rint(rows[:, 7]),
        )

    @classmethod
    def concat(cls, parts: Sequence[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(part, name) for part in parts]) for name in _FIELDS))

    def to_rows(self, out: np.ndarray | None = None) -> np.ndarray:
        """(N, len(COLUMNS)) float32 rows in COLUMNS order, written into `out` if given."""
        if out is None:
            out = np.empty((len(self), len(COLUMNS)), dtype=np.float32)
        elif out.shape != (len(self), len(COLUMNS)):
            raise ValueError(f"out: expected shape {(len(self), len(COLUMNS))}, got {out.shape}")
        out[:, 0:4] = self.xyxy
        out[:, 4] = self.score
        out[:, 5] = self.class_id
        out[:, 6] = self.model_index
        out[:, 7] = self.track_id
        return out

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        """A subset by boolean mask, index array or slice (always a Detections)."""
        return Detections(*(np.asarray(getattr(self, name)[index]) for name in _FIELDS))

    def replace(self, **columns: np.ndarray) -> Detections:
        """A copy with some columns replaced, e.g. `replace(track_id=ids)` or `replace(xyxy=b)`."""
        unknown = set(columns) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown detections columns: {', '.join(sorted(unknown))}")
        fields = {name: getattr(self, name) for name in _FIELDS}
        fields.update(columns)
        return Detections.create(**fields)

    @property
    def area(self) -> np.ndarray:
        """(N,) box areas, squared pixels (0 for empty or inverted boxes)."""
        width = np.clip(self.xyxy[:, 2] - self.xyxy[:, 0], 0, None)
        height = np.clip(self.xyxy[:, 3] - self.xyxy[:, 1], 0, None)
        return width * height


_FIELDS = ("xyxy", "score", "class_id", "model_index", "track_id")
