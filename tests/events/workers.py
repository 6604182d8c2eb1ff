"""Spawn targets of the events tests (importable by a spawned child)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from pipeline.config.events import OutboxConfig
from pipeline.events.emitter import EventEmitter
from pipeline.events.outbox import Outbox
from pipeline.events.schema import EventType


def append_events(path: Path, limits: OutboxConfig, camera: str, count: int, pause: float) -> None:
    """A camera process's part: `count` violation starts, track ids 0.., `pause` s apart."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    emitter = EventEmitter(Outbox(path, limits), site="plant-a", camera=camera)
    for index in range(count):
        emitter.emit(
            EventType.VIOLATION_START,
            {
                "zone": "gate",
                "track_id": index,
                "missing": ["vest"],
                "started_at": "2024-01-15T10:30:45.123Z",
                "confidence": 0.5,
            },
        )
        if pause:
            time.sleep(pause)
