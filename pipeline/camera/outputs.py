"""What a camera writes besides video: `detections` and `events` lines (JSONL)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from pipeline.detections import NO_TRACK, Detections

logger = logging.getLogger(__name__)


class JsonLines:
    """Appends JSON lines to a file that every camera shares (`detections.jsonl`,
    `events.jsonl`).

    Each line goes out in a single `write()` on an O_APPEND descriptor, which Linux keeps
    whole against concurrent appends from other processes.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict[str, object]) -> None:
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


class DetectionsLog(JsonLines):
    """One `detections` line per sampled frame."""

    def __init__(
        self,
        path: Path,
        camera_id: str,
        class_names: Sequence[str],
        model_names: Sequence[str],
    ) -> None:
        super().__init__(path)
        self._camera_id = camera_id
        self._class_names = list(class_names)
        self._model_names = list(model_names)

    def write(
        self,
        seq: int,
        frame_index: int,
        pts: float,
        latency_ms: float,
        detections: Detections,
    ) -> None:
        """`detections` in original-frame pixels; `track` only on tracked detections."""
        line = {
            "type": "detections",
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "camera": self._camera_id,
            "seq": seq,
            "frame_index": frame_index,
            "pts": round(pts, 3),
            "latency_ms": round(latency_ms, 1),
            "detections": [self._detection(detections, index) for index in range(len(detections))],
        }
        self.append(line)

    def _detection(self, detections: Detections, index: int) -> dict[str, object]:
        class_id, model = int(detections.class_id[index]), int(detections.model_index[index])
        entry: dict[str, object] = {
            "class": _name(self._class_names, class_id),
            "model": _name(self._model_names, model),
            "score": round(float(detections.score[index]), 3),
            "box": [round(float(v), 1) for v in detections.xyxy[index]],
        }
        if detections.track_id[index] != NO_TRACK:
            entry["track"] = int(detections.track_id[index])
        return entry


def _name(names: Sequence[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)
