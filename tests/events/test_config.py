"""The `events:` section: defaults, and mistakes refused with a message that says what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.config.events import (
    EventsConfig,
    MqttSinkConfig,
    SinkKind,
    WhenFull,
    events_directory,
)


def test_defaults() -> None:
    config = EventsConfig.model_validate(
        {"sinks": [{"kind": "file"}, {"kind": "mqtt", "host": "broker"}]}
    )
    assert config.outbox.max_events == 100_000
    assert config.outbox.when_full is WhenFull.DROP_OLDEST
    assert config.shutdown_timeout == 10.0
    file, mqtt = config.sinks
    assert file.kind is SinkKind.FILE and file.name == "file" and file.fsync
    assert isinstance(mqtt, MqttSinkConfig)
    assert (mqtt.name, mqtt.effective_port, mqtt.topic_prefix) == ("mqtt", 1883, "vigia")
    tls = MqttSinkConfig.model_validate({"host": "broker", "tls": {"enabled": True}})
    assert tls.effective_port == 8883
    assert EventsConfig().sinks == ()


BAD: list[tuple[dict[str, Any], str]] = [
    ({"sinks": [{"kind": "mqtt", "host": "b", "password": "hunter2"}]}, "environment variable"),
    ({"sinks": [{"kind": "webhook", "url": "https://h/x", "secret": "s3cret"}]}, "${VIGIA_SECRET}"),
    ({"sinks": [{"kind": "webhook", "url": "ftp://h/x"}]}, "http:// or https://"),
    (
        {"sinks": [{"kind": "webhook", "url": "ftp://u:hunter2@h/x"}]},
        "ftp://u:***@h/x",
    ),
    ({"sinks": [{"kind": "webhook", "url": "https://h/${1X}"}]}, "malformed variable"),
    (
        {"sinks": [{"kind": "webhook", "url": "https://h/x", "headers": {"Host": "evil"}}]},
        "set by the webhook sink",
    ),
    (
        {"sinks": [{"kind": "webhook", "url": "https://h/x", "headers": {"Bad Name": "v"}}]},
        "header name",
    ),
    (
        {"sinks": [{"kind": "webhook", "url": "https://h/x", "allowed_networks": ["10.0.0.1/8"]}]},
        "allowed_networks",
    ),
    ({"sinks": [{"kind": "file"}, {"kind": "file", "path": "b.jsonl"}]}, "own `name:`"),
    ({"sinks": [{"kind": "mqtt", "host": "b", "topic_prefix": "a/#"}]}, "topic_prefix"),
    ({"sinks": [{"kind": "mqtt", "host": "b", "tls": {"cert_file": "c.pem"}}]}, "key_file"),
    ({"sinks": [{"kind": "file", "retry_initial": 10, "retry_max": 1}]}, "retry_max"),
    ({"sinks": [{"kind": "kafka"}]}, "kind"),
    ({"outbox": {"when_full": "block"}}, "when_full"),
    ({"outbox": {"max_events": 1}}, "max_events"),
    ({"sinks": [{"kind": "file", "colour": "red"}]}, "colour"),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_mistakes_are_refused_with_a_message_that_says_what_to_do(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        EventsConfig.model_validate(data)
    assert message in str(error.value)
    for item in error.value.errors():  # what the site loader shows: msg, and input unless a dict
        assert "hunter2" not in item["msg"]
        assert isinstance(item["input"], dict) or "hunter2" not in str(item["input"])


def test_variables_lists_every_secret_the_sinks_need() -> None:
    config = EventsConfig.model_validate(
        {
            "sinks": [
                {"kind": "mqtt", "host": "b", "username": "${MQ_USER}", "password": "${MQ_PASS}"},
                {
                    "kind": "webhook",
                    "url": "https://u:${HOOK_PASS}@h/x",
                    "secret": "${HOOK_SECRET}",
                    "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"},
                },
            ]
        }
    )
    assert config.variables() == ["MQ_USER", "MQ_PASS", "HOOK_PASS", "HOOK_SECRET", "HOOK_TOKEN"]


@pytest.mark.parametrize(
    ("directory", "output_dir", "expected"),
    [
        ("/var/lib/vigia/events", "/runs/x", "/var/lib/vigia/events"),
        (None, "/runs/x", "/runs/x/events"),
        (None, None, "runs/plant-a/events"),
    ],
)
def test_the_events_folder_outlives_a_run(
    directory: str | None, output_dir: str | None, expected: str
) -> None:
    config = EventsConfig.model_validate({"directory": directory})
    folder = events_directory(config, "plant-a", Path(output_dir) if output_dir else None)
    assert folder == Path(expected)
