"""The event envelope `vigia.event/1`: building, validating and serializing events.

The envelope's keys are fixed; `payload` is checked against the model of the event's type.
Known payload keys are typed; unknown keys are kept (later releases of version 1 may add
optional keys, and consumers must ignore keys they do not know). A change that removes or
retypes a key is a new schema version.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA = "vigia.event/1"
# uuid5 namespace of stable ids: fixed forever, or ids change meaning across releases.
_ID_NAMESPACE = uuid.UUID("5b1f0d7e-3c47-4f5e-9a2b-6d0c8e1f4a93")
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"  # site and camera ids (config's pattern)


class EventType(str, Enum):
    VIOLATION_START = "violation.start"
    VIOLATION_END = "violation.end"
    CAMERA_OFFLINE = "camera.offline"
    CAMERA_ONLINE = "camera.online"
    PROCESS_FATAL = "process.fatal"


class EventError(ValueError):
    """An event that does not follow the schema; the message names the key."""


def format_time(epoch_s: float) -> str:
    """UTC, ISO 8601 with milliseconds: `2024-01-15T10:30:45.123Z`."""
    moment = datetime.fromtimestamp(epoch_s, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 time that names its zone (Z or +hh:mm)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EventError(f"time {text!r} is not ISO 8601 (e.g. 2024-01-15T10:30:45.123Z)") from None
    if moment.tzinfo is None:
        raise EventError(f"time {text!r} has no zone: end it in Z (UTC)")
    return moment.timestamp()


class _Payload(BaseModel):
    # Unknown keys are kept: optional additions within version 1 must not break producers.
    model_config = ConfigDict(extra="allow", frozen=True)


def _run_relative(path: str | None) -> str | None:
    if path is not None:
        parts = PurePosixPath(path)
        if parts.is_absolute() or ".." in parts.parts or "\\" in path or not path:
            raise ValueError(f"{path!r} must be relative to the run folder, without '..'")
    return path


def _iso_time(text: str | None) -> str | None:
    if text is not None:
        parse_time(text)
    return text


class ViolationPayload(_Payload):
    """A person in a zone without required PPE, from the compliance rules."""

    zone: str | None = Field(min_length=1, title="Zone name; None: the whole frame")
    track_id: int = Field(ge=0, title="The person's track id (per camera, per process run)")
    missing: list[str] = Field(min_length=1, title="Required items not seen, e.g. ['helmet']")
    started_at: str = Field(title="When the violation started (ISO 8601, UTC)")
    confidence: float = Field(ge=0, le=1, title="Score of the person detection, 0..1")
    box: list[float] | None = Field(
        None, min_length=4, max_length=4, title="x1, y1, x2, y2 in original-frame pixels"
    )
    snapshot: str | None = Field(None, title="JPEG path relative to the run folder")
    best_snapshot: str | None = Field(
        None, title="JPEG of the moment the worker was seen best, relative to the run folder"
    )
    clip: str | None = Field(None, title="MP4 path relative to the run folder")

    _started = field_validator("started_at")(_iso_time)
    _paths = field_validator("snapshot", "best_snapshot", "clip")(_run_relative)

    @field_validator("missing")
    @classmethod
    def _items(cls, items: list[str]) -> list[str]:
        if any(not item for item in items):
            raise ValueError("missing items are non-empty names, e.g. ['helmet', 'vest']")
        return items


class ViolationEndPayload(ViolationPayload):
    ended_at: str = Field(title="When the violation ended (ISO 8601, UTC)")
    duration_s: float = Field(ge=0, title="ended_at - started_at, seconds")

    _ended = field_validator("ended_at")(_iso_time)


class CameraOfflinePayload(_Payload):
    reason: str = Field(min_length=1, title="Why, e.g. 'no frame for 10 s'")


class CameraOnlinePayload(_Payload):
    offline_s: float | None = Field(None, ge=0, title="Seconds the camera was offline")


class ProcessFatalPayload(_Payload):
    process: str = Field(min_length=1, title="Process tag, e.g. CAM063 or INFERENCE")
    exit_code: int | None = Field(title="Last exit code (negative: killed by that signal)")
    restarts: int = Field(ge=0, title="Restarts inside the restart window")
    reason: str = Field(min_length=1)


PAYLOADS: dict[EventType, type[_Payload]] = {
    EventType.VIOLATION_START: ViolationPayload,
    EventType.VIOLATION_END: ViolationEndPayload,
    EventType.CAMERA_OFFLINE: CameraOfflinePayload,
    EventType.CAMERA_ONLINE: CameraOnlinePayload,
    EventType.PROCESS_FATAL: ProcessFatalPayload,
}
CAMERA_REQUIRED = frozenset(
    {
        EventType.VIOLATION_START,
        EventType.VIOLATION_END,
        EventType.CAMERA_OFFLINE,
        EventType.CAMERA_ONLINE,
    }
)
ENVELOPE_KEYS = ("schema", "id", "type", "site", "camera", "time", "payload")


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: str = Field(alias="schema")
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    type: EventType
    site: str = Field(pattern=_NAME_PATTERN)
    camera: str | None = Field(pattern=_NAME_PATTERN)
    time: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Event:
    """One validated event. `time` is seconds since the epoch (UTC) when it happened."""

    id: str
    type: EventType
    site: str
    camera: str | None
    time: float
    payload: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "id": self.id,
            "type": self.type.value,
            "site": self.site,
            "camera": self.camera,
            "time": format_time(self.time),
            "payload": dict(self.payload),
        }

    def to_json(self) -> str:
        """Compact UTF-8 JSON, keys in envelope order: what every sink sends."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def new_event_id() -> str:
    """A random id (uuid4, 32 hex digits): unique without coordination between processes."""
    return uuid.uuid4().hex


def stable_event_id(*key: str | int) -> str:
    """The same id for the same key, e.g. (site, camera, track, zone, started_at, type):
    a producer that emits an event again after a restart gives it the id it had."""
    if not key:
        raise ValueError("stable_event_id needs at least one key part")
    return uuid.uuid5(_ID_NAMESPACE, "\x1f".join(str(part) for part in key)).hex


def _json_safe(value: Any, where: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise EventError(f"{where} is not JSON-serializable ({error})") from None


def _check_payload(kind: EventType, payload: Mapping[str, Any]) -> dict[str, Any]:
    # Before the model: its JSON dump would quietly turn NaN into null.
    _json_safe(dict(payload), f"{kind.value} payload")
    try:
        model = PAYLOADS[kind].model_validate(dict(payload))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(payload)"
        raise EventError(
            f"{kind.value} payload.{where}: {first['msg']} ({len(error.errors())} problem(s))"
        ) from None
    return model.model_dump(mode="json")


def build_event(
    kind: EventType,
    *,
    site: str,
    camera: str | None,
    payload: Mapping[str, Any],
    time: float,
    event_id: str | None = None,
) -> Event:
    """A checked event. `time`: seconds since the epoch (time.time()), not monotonic time.
    `event_id`: None for a random id, or stable_event_id(...). Raises EventError."""
    if not math.isfinite(time) or time <= 0:
        raise EventError(f"time must be seconds since the epoch (time.time()), got {time!r}")
    envelope = Event(
        id=event_id or new_event_id(),
        type=EventType(kind),
        site=site,
        camera=camera,
        time=time,
        payload={},
    )
    data = envelope.to_dict()
    data["payload"] = dict(payload)
    return validate_event(data)


def validate_event(data: Mapping[str, Any]) -> Event:
    """The Event that `data` (a decoded envelope) describes; raises EventError naming the key.

    Times are kept to the millisecond, as serialized: `validate_event(e.to_dict())` equals
    an event built from the same values rounded to the millisecond.
    """
    try:
        envelope = _Envelope.model_validate(dict(data))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(envelope)"
        raise EventError(f"event {where}: {first['msg']}") from None
    if envelope.schema_ != SCHEMA:
        raise EventError(f"event schema {envelope.schema_!r} is not {SCHEMA!r}")
    if envelope.type in CAMERA_REQUIRED and envelope.camera is None:
        raise EventError(f"{envelope.type.value} events name their camera")
    return Event(
        id=envelope.id,
        type=envelope.type,
        site=envelope.site,
        camera=envelope.camera,
        time=round(parse_time(envelope.time), 3),
        payload=_check_payload(envelope.type, envelope.payload),
    )


def decode_event(text: str | bytes) -> Event:
    """Parse and validate one serialized event (a JSONL line, an MQTT or webhook body)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise EventError(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise EventError("an event is a JSON object")
    return validate_event(data)
