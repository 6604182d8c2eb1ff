"""What a producing process holds (a camera process, the supervisor): build, then store.

    emitter = EventEmitter(Outbox(path, config.events.outbox), site="plant-a", camera="CAM063")
    emitter.emit(EventType.VIOLATION_START, payload, key=(track_id, zone, started_at))

`emit` returns once the event is fsynced in the outbox (about a millisecond on a local SSD;
bench/events.py measures it); it never waits for a sink. An outbox that cannot be written (disk
full, locked past busy_timeout) is logged and counted, and the caller's loop goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from pipeline.events.outbox import Appended, Outbox, OutboxError
from pipeline.events.schema import EventType, build_event, stable_event_id

logger = logging.getLogger(__name__)


class EventEmitter:
    def __init__(self, outbox: Outbox, site: str, camera: str | None) -> None:
        self.outbox = outbox
        self.site = site
        self.camera = camera
        self.failed = 0  # events that could not be stored (the log says why)

    def emit(
        self,
        kind: EventType,
        payload: Mapping[str, Any],
        *,
        key: tuple[str | int, ...] | None = None,
        when: float | None = None,
        camera: str | None = None,
    ) -> Appended | None:
        """Store one event. `key`: what identifies it among this camera's events of this
        type (e.g. track id, zone, start time), so that emitting it again gives the same id
        and the outbox keeps one copy; None: a random id. `when`: time.time() of the event
        (default now). `camera`: the camera it is about, when not the emitter's own (the
        supervisor's process.fatal of a camera process). Raises EventError for a payload
        that does not follow the schema."""
        camera = camera or self.camera
        event_id = stable_event_id(self.site, camera or "", kind.value, *key) if key else None
        event = build_event(
            kind,
            site=self.site,
            camera=camera,
            payload=payload,
            time=time.time() if when is None else when,
            event_id=event_id,
        )
        try:
            return self.outbox.append(event)
        except OutboxError as error:
            self.failed += 1
            logger.error(
                "Event %s %s not stored (%d so far): %s", kind.value, event.id, self.failed, error
            )
            return None
