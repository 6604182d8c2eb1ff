"""The event envelope vigia.event/1: what is accepted, what is refused and why."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.events.schema import (
    SCHEMA,
    EventError,
    EventType,
    build_event,
    decode_event,
    format_time,
    stable_event_id,
    validate_event,
)

T0 = 1_705_314_645.123  # 2024-01-15T10:30:45.123Z
VIOLATION = {
    "zone": "scaffold",
    "track_id": 17,
    "missing": ["helmet", "vest"],
    "started_at": "2024-01-15T10:30:45.123Z",
    "confidence": 0.87,
}

VALID = [
    (EventType.VIOLATION_START, "CAM063", VIOLATION),
    (EventType.VIOLATION_START, "CAM063", {**VIOLATION, "zone": None, "box": [1, 2, 30, 40]}),
    (
        EventType.VIOLATION_END,
        "CAM063",
        {
            **VIOLATION,
            "ended_at": "2024-01-15T10:30:57.523Z",
            "duration_s": 12.4,
            "snapshot": "evidence/CAM063/17-start.jpg",
            "clip": "evidence/CAM063/17.mp4",
        },
    ),
    (EventType.CAMERA_OFFLINE, "CAM001", {"reason": "no frame for 10 s"}),
    (EventType.CAMERA_ONLINE, "CAM001", {"offline_s": 42.0}),
    (EventType.CAMERA_ONLINE, "CAM001", {}),
    (
        EventType.PROCESS_FATAL,
        None,
        {"process": "INFERENCE", "exit_code": 3, "restarts": 0, "reason": "model"},
    ),
    (
        EventType.PROCESS_FATAL,
        "CAM063",
        {"process": "CAM063", "exit_code": -9, "restarts": 5, "reason": "5 restarts"},
    ),
    # Unknown payload keys are kept (optional additions within version 1).
    (EventType.CAMERA_OFFLINE, "CAM001", {"reason": "gone", "rtsp_status": 503}),
]


@pytest.mark.parametrize(("kind", "camera", "payload"), VALID)
def test_valid_events_survive_serialization(
    kind: EventType, camera: str | None, payload: dict[str, Any]
) -> None:
    event = build_event(kind, site="plant-a", camera=camera, payload=payload, time=T0)
    data = json.loads(event.to_json())
    assert list(data) == ["schema", "id", "type", "site", "camera", "time", "payload"]
    assert data["schema"] == SCHEMA
    assert data["type"] == kind.value
    assert data["time"] == "2024-01-15T10:30:45.123Z"
    for key, value in payload.items():
        assert data["payload"][key] == value
    again = decode_event(event.to_json())
    assert again == event
    assert again.to_json() == event.to_json()


def _envelope(**changes: Any) -> dict[str, Any]:
    event = build_event(
        EventType.VIOLATION_START, site="plant-a", camera="CAM063", payload=VIOLATION, time=T0
    )
    data = event.to_dict()
    for key, value in changes.items():
        if value is KeyError:
            data.pop(key)
        else:
            data[key] = value
    return data


INVALID = [
    (_envelope(schema="vigia.event/2"), "vigia.event/2"),
    (_envelope(id=KeyError), "id"),
    (_envelope(id="has spaces"), "id"),
    (_envelope(type="violation.begin"), "type"),
    (_envelope(camera=None), "name their camera"),
    (_envelope(camera="../etc"), "camera"),
    (_envelope(time="2024-01-15 10:30:45"), "no zone"),
    (_envelope(time="yesterday"), "ISO 8601"),
    (_envelope(extra=1), "extra"),
    (_envelope(payload={**VIOLATION, "missing": []}), "payload.missing"),
    (_envelope(payload={**VIOLATION, "confidence": 1.5}), "payload.confidence"),
    (_envelope(payload={**VIOLATION, "track_id": -1}), "payload.track_id"),
    (_envelope(payload={**VIOLATION, "snapshot": "/tmp/x.jpg"}), "payload.snapshot"),
    (_envelope(payload={**VIOLATION, "clip": "../../x.mp4"}), "payload.clip"),
    (_envelope(payload={**VIOLATION, "started_at": "soon"}), "payload.started_at"),
    (_envelope(payload={k: v for k, v in VIOLATION.items() if k != "zone"}), "payload.zone"),
    (_envelope(payload={**VIOLATION, "extra": float("nan")}), "JSON"),
]


@pytest.mark.parametrize(("data", "names"), INVALID)
def test_invalid_events_are_refused_naming_the_key(data: dict[str, Any], names: str) -> None:
    with pytest.raises(EventError) as error:
        validate_event(data)
    assert names in str(error.value)


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"a string"'])
def test_decode_refuses_what_is_not_an_event_object(text: str) -> None:
    with pytest.raises(EventError):
        decode_event(text)


def test_build_refuses_monotonic_or_missing_time() -> None:
    for bad in (0.0, float("nan"), -5.0):
        with pytest.raises(EventError, match="time"):
            build_event(
                EventType.CAMERA_ONLINE, site="plant-a", camera="CAM1", payload={}, time=bad
            )


def test_random_ids_are_unique_and_stable_ids_repeat_for_the_same_key() -> None:
    random_ids = {
        build_event(EventType.CAMERA_ONLINE, site="s", camera="CAM1", payload={}, time=T0).id
        for _ in range(1000)
    }
    assert len(random_ids) == 1000
    key = ("plant-a", "CAM063", "violation.start", 17, "scaffold", "2024-01-15T10:30:45.123Z")
    assert stable_event_id(*key) == stable_event_id(*key)
    assert stable_event_id(*key) != stable_event_id(*key[:-1], "2024-01-15T10:30:46.000Z")
    # Parts are separated, so ("a", "bc") and ("ab", "c") differ.
    assert stable_event_id("a", "bc") != stable_event_id("ab", "c")


@pytest.mark.parametrize(
    ("epoch", "text"),
    [(0.001, "1970-01-01T00:00:00.001Z"), (T0, "2024-01-15T10:30:45.123Z")],
)
def test_times_are_utc_with_milliseconds(epoch: float, text: str) -> None:
    assert format_time(epoch) == text
