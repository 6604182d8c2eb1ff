"""Ground truth of a rendered frame: which workers are visible, where, and what they wear.

All boxes are (x1, y1, x2, y2) in pixels of the rendered frame, pixel edges inclusive of
the drawn pixels: a figure pixel at column c lies in [c, c + 1), so x2 is one past the
rightmost drawn column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class WorkerTruth:
    """One worker at least partly inside the frame.

    `person_box` bounds the figure's pixels inside the frame, including parts hidden behind
    other workers or clutter (amodal for occlusion, truncated at the frame edge).
    `helmet_box`/`vest_box` bound the worn helmet/vest the same way (None when not worn or
    wholly outside the frame). `visibility` is the fraction of the whole figure's pixels that
    are both inside the frame and not occluded; `helmet_visibility`/`vest_visibility` the same
    for the part (0.0 when not worn).
    """

    id: int
    person_box: Box
    helmet_box: Box | None
    vest_box: Box | None
    has_helmet: bool
    has_vest: bool
    visibility: float
    helmet_visibility: float = 0.0
    vest_visibility: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "person_box": _rounded(self.person_box),
            "helmet_box": _rounded(self.helmet_box) if self.helmet_box else None,
            "vest_box": _rounded(self.vest_box) if self.vest_box else None,
            "has_helmet": self.has_helmet,
            "has_vest": self.has_vest,
            "visibility": round(self.visibility, 4),
            "helmet_visibility": round(self.helmet_visibility, 4),
            "vest_visibility": round(self.vest_visibility, 4),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerTruth:
        return cls(
            id=int(data["id"]),
            person_box=_box(data["person_box"]),
            helmet_box=_box(data["helmet_box"]) if data.get("helmet_box") else None,
            vest_box=_box(data["vest_box"]) if data.get("vest_box") else None,
            has_helmet=bool(data["has_helmet"]),
            has_vest=bool(data["has_vest"]),
            visibility=float(data["visibility"]),
            helmet_visibility=float(data.get("helmet_visibility", 0.0)),
            vest_visibility=float(data.get("vest_visibility", 0.0)),
        )


@dataclass(frozen=True)
class FrameTruth:
    """Everything known about frame `index` of a scene: the workers in it, far to near."""

    index: int
    workers: list[WorkerTruth] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "workers": [worker.to_dict() for worker in self.workers]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameTruth:
        return cls(
            index=int(data["index"]),
            workers=[WorkerTruth.from_dict(worker) for worker in data["workers"]],
        )


def _rounded(box: Box) -> list[float]:
    return [round(value, 2) for value in box]


def _box(values: Any) -> Box:
    x1, y1, x2, y2 = (float(value) for value in values)
    return (x1, y1, x2, y2)
