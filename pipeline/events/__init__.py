"""Events: a durable outbox on disk, delivered at least once and in order to MQTT, webhooks
and rotating JSONL files.

Producers (camera processes, the supervisor) only append to the outbox (outbox.py, SQLite in
WAL mode): a local fsynced write, never a wait on a sink. The delivery process (delivery.py,
process.py) drains it, one thread and one cursor per sink.

The event schema, `vigia.event/1` (schema.py). Every event is one JSON object:

    {"schema": "vigia.event/1",
     "id": "3f0c5e0a9d6b5e1c8f2a7b4d6e9c0a1b",      unique; the same on every redelivery
     "type": "violation.start",
     "site": "plant-a",
     "camera": "CAM063",                            null for events of no camera
     "time": "2024-01-15T10:30:45.123Z",            when it happened, UTC
     "payload": {...}}                              by type, below

Payloads (keys marked ? may be absent or null; unknown keys may be added within version 1 and
must be ignored by consumers):

    violation.start  {"zone": "scaffold", "track_id": 17, "missing": ["helmet"],
                      "started_at": "2024-01-15T10:30:45.123Z", "confidence": 0.87,
                      "box"?: [x1, y1, x2, y2] (original-frame pixels),
                      "snapshot"?: "evidence/CAM063/....jpg", "clip"?: "evidence/....mp4"}
                      (zone null: the whole frame; paths relative to the run folder)
    violation.end    the same keys, plus "ended_at": "...Z", "duration_s": 12.4
    camera.offline   {"reason": "no frame for 10 s"}
    camera.online    {"offline_s"?: 42.0}
    process.fatal    {"process": "CAM063", "exit_code": -9, "restarts": 5,
                      "reason": "5 restarts within 3600s; last exit: ..."}

Delivery is at least once: a consumer de-duplicates by `id`. Events reach each sink in the
order they were stored (so in order per camera). Ids are random (uuid4) unless the producer
gives a key (`stable_event_id`, `EventEmitter.emit(key=...)`), which makes an event emitted
again after a restart keep its id.
"""

from pipeline.events.delivery import DeliveryCrashed, DeliveryStatus, SinkStatus, run_delivery
from pipeline.events.emitter import EventEmitter
from pipeline.events.outbox import (
    OUTBOX_FILE,
    Appended,
    AppendOutcome,
    Outbox,
    OutboxError,
    OutboxStats,
    StoredEvent,
)
from pipeline.events.schema import (
    SCHEMA,
    Event,
    EventError,
    EventType,
    build_event,
    decode_event,
    stable_event_id,
    validate_event,
)

__all__ = [
    "OUTBOX_FILE",
    "SCHEMA",
    "AppendOutcome",
    "Appended",
    "DeliveryCrashed",
    "DeliveryStatus",
    "Event",
    "EventEmitter",
    "EventError",
    "EventType",
    "Outbox",
    "OutboxError",
    "OutboxStats",
    "SinkStatus",
    "StoredEvent",
    "build_event",
    "decode_event",
    "run_delivery",
    "stable_event_id",
    "validate_event",
]
