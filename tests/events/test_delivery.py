"""The delivery loop: what the heartbeat reports, a full outbox's gap, sinks removed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config.events import EventsConfig
from pipeline.events.delivery import DeliveryStatus
from pipeline.events.outbox import Outbox
from tests.events.conftest import DeliveryThread, WebhookServer, sample_event, wait_for


def test_a_sink_down_while_the_outbox_fills_logs_its_loss_and_the_heartbeat_shows_it(
    tmp_path: Path,
    webhook_server: WebhookServer,
    deliveries: Callable[..., DeliveryThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    webhook_server.status = 503
    config = EventsConfig.model_validate(
        {
            "poll_interval": 0.02,
            "outbox": {"max_events": 10, "when_full": "drop_oldest"},
            "sinks": [
                {
                    "kind": "webhook",
                    "url": webhook_server.url(),
                    "allowed_networks": ["127.0.0.1/32"],
                    "retry_initial": 0.1,
                    "retry_max": 0.2,
                }
            ],
        }
    )
    path = tmp_path / "outbox.sqlite3"
    statuses: list[DeliveryStatus] = []
    lock = threading.Lock()

    def heartbeat(status: DeliveryStatus) -> None:
        with lock:
            statuses.append(status)

    def last() -> DeliveryStatus | None:
        with lock:
            return statuses[-1] if statuses else None

    outbox = Outbox(path, config.outbox)
    events = [sample_event(index) for index in range(15)]
    for event in events[:10]:
        outbox.append(event)
    delivery = deliveries(config, path, heartbeat=heartbeat)
    wait_for(lambda: len(webhook_server.received) >= 2, 10, "failed POSTs")
    for event in events[10:]:
        outbox.append(event)  # the outbox is full: the 5 oldest go
    wait_for(lambda: (s := last()) is not None and s.outbox.dropped == 5, 5, "the drop")
    status = last()
    assert status is not None
    (sink,) = status.sinks
    assert sink.pending == 10 and sink.failing_since is not None
    assert sink.last_error is not None and "503" in sink.last_error
    assert "webhook 10 pending, failing" in status.summary()
    assert "5 dropped" in status.summary()
    webhook_server.status = 200
    wait_for(lambda: len(webhook_server.accepted) == 10, 10, "the 10 newest")
    assert webhook_server.accepted_ids() == [event.id for event in events[5:]]
    wait_for(lambda: (s := last()) is not None and s.sinks[0].pending == 0, 5, "caught up")
    final = last()
    assert final is not None and final.sinks[0].lost == 5 and final.sinks[0].failing_since is None
    assert delivery.finish() == {"webhook": 0}
    messages = [record.getMessage() for record in caplog.records]
    assert any("lost 5 events dropped from the full outbox" in m for m in messages)
    assert any("delivering again" in m for m in messages)
    outbox.close()


def test_a_sink_removed_from_the_config_no_longer_holds_events_back(
    tmp_path: Path, deliveries: Callable[..., DeliveryThread], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite3"
    (tmp_path / "not-a-folder").write_text("")  # b's file cannot be created below it
    both = EventsConfig.model_validate(
        {
            "poll_interval": 0.02,
            "shutdown_timeout": 0.3,
            "sinks": [
                {"kind": "file", "name": "a", "path": "a.jsonl"},
                {"kind": "file", "name": "b", "path": "not-a-folder/b.jsonl"},
            ],
        }
    )
    with Outbox(path, both.outbox) as outbox:
        for index in range(5):
            outbox.append(sample_event(index))
        delivery = deliveries(both, path)
        wait_for(lambda: outbox.pending("a") == 0, 5, "sink a")
        time.sleep(0.2)
        assert delivery.finish() == {"a": 0, "b": 5}  # b cannot write: held for it
        assert outbox.stats().events == 5
        only_a = EventsConfig.model_validate(
            {"poll_interval": 0.02, "sinks": [{"kind": "file", "name": "a", "path": "a.jsonl"}]}
        )
        caplog.set_level(logging.INFO)
        assert deliveries(only_a, path).finish() == {"a": 0}
        assert outbox.stats().events == 0
    assert any("sink b is no longer configured" in r.getMessage() for r in caplog.records)
