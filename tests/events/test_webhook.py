"""Webhook sink against a real HTTP server on 127.0.0.1 (allowed explicitly, as it must be)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.config.events import EventsConfig, WebhookSinkConfig
from pipeline.events.outbox import Outbox, StoredEvent
from pipeline.events.webhook_sink import WebhookSink
from tests.events.conftest import (
    DeliveryThread,
    WebhookServer,
    first_copies,
    make_certificates,
    sample_event,
    wait_for,
)

LOOPBACK = ["127.0.0.1/32"]
FAST_RETRY = {"retry_initial": 0.05, "retry_max": 0.2}
APPEND_BOUND_S = 1.0  # far above a normal append (milliseconds): "not blocked", not "fast"


def _stored(index: int) -> StoredEvent:
    event = sample_event(index)
    return StoredEvent(index + 1, event.id, event.camera, event.type, event.to_json())


def _sink(url: str, environ: dict[str, str] | None = None, **settings: Any) -> WebhookSink:
    config = WebhookSinkConfig.model_validate({"url": url, **FAST_RETRY, **settings})
    return WebhookSink(config, environ or {})


def _produce(outbox: Outbox, count: int, pause: float) -> tuple[list[str], list[float]]:
    """Append `count` events; (their ids, each append's duration in seconds)."""
    ids, durations = [], []
    for index in range(count):
        event = sample_event(index, camera=f"CAM{index % 2}")
        started = time.perf_counter()
        outbox.append(event)
        durations.append(time.perf_counter() - started)
        ids.append(event.id)
        time.sleep(pause)
    return ids, durations


def test_each_event_is_posted_signed_with_its_id_and_configured_headers(
    webhook_server: WebhookServer,
) -> None:
    environ = {"HOOK_SECRET": "k3y-for-hmac", "HOOK_TOKEN": "t0ken"}
    sink = _sink(
        webhook_server.url(),
        environ,
        secret="${HOOK_SECRET}",
        headers={"Authorization": "Bearer ${HOOK_TOKEN}"},
        allowed_networks=LOOPBACK,
    )
    events = [_stored(index) for index in range(5)]
    assert sink.send(events, threading.Event()).delivered == 5
    assert webhook_server.accepted_ids() == [e.id for e in events]
    for request, event in zip(webhook_server.accepted, events, strict=True):
        assert request.body == event.body.encode()
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Vigia-Event-Id"] == event.id
        assert request.headers["Authorization"] == "Bearer t0ken"
        expected = hmac.new(b"k3y-for-hmac", request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Vigia-Signature"] == f"sha256={expected}"


def test_a_webhook_failing_with_500_gets_every_event_in_order_later(
    tmp_path: Path, webhook_server: WebhookServer, deliveries: Callable[..., DeliveryThread]
) -> None:
    """The receiver answers 500 for 1.5 s: nothing is skipped, order holds, appends go on."""
    webhook_server.fail_until = time.monotonic() + 1.5
    config = EventsConfig.model_validate(
        {
            "poll_interval": 0.02,
            "sinks": [
                {"kind": "webhook", "url": webhook_server.url(), "allowed_networks": LOOPBACK}
                | FAST_RETRY
            ],
        }
    )
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, config.outbox)
    delivery = deliveries(config, path)
    produced, durations = _produce(outbox, 30, 0.05)
    wait_for(lambda: len(set(webhook_server.accepted_ids())) == 30, 15, "30 events accepted")
    assert delivery.finish() == {"webhook": 0}
    accepted = webhook_server.accepted_ids()
    assert first_copies(accepted) == produced
    assert len(webhook_server.received) > len(accepted)  # the 500s were real, and retried
    assert max(durations) < APPEND_BOUND_S
    outbox.close()


def test_a_slow_webhook_holds_back_neither_the_file_sink_nor_the_producer(
    tmp_path: Path, webhook_server: WebhookServer, deliveries: Callable[..., DeliveryThread]
) -> None:
    webhook_server.delay = 0.25  # per request
    config = EventsConfig.model_validate(
        {
            "poll_interval": 0.02,
            "sinks": [
                {"kind": "webhook", "url": webhook_server.url(), "allowed_networks": LOOPBACK},
                {"kind": "file"},
            ],
        }
    )
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, config.outbox)
    delivery = deliveries(config, path)
    produced, durations = _produce(outbox, 12, 0.0)
    lines = tmp_path / "events.jsonl"
    wait_for(lambda: lines.exists() and len(lines.read_text().splitlines()) == 12, 5, "file sink")
    wait_for(lambda: outbox.pending("file") == 0, 5, "the file sink's cursor")
    assert len(webhook_server.accepted_ids()) < 12  # the slow one is still behind...
    assert outbox.pending("webhook") > 0
    wait_for(lambda: len(webhook_server.accepted_ids()) == 12, 15, "webhook catching up")
    assert delivery.finish() == {"webhook": 0, "file": 0}
    assert webhook_server.accepted_ids() == produced
    assert max(durations) < APPEND_BOUND_S
    outbox.close()


def test_an_answer_slower_than_read_timeout_is_retried_until_it_comes_in_time(
    webhook_server: WebhookServer,
) -> None:
    """As a receiver that sleeps 30 s per call: each POST times out, nothing is lost."""
    webhook_server.delay = 1.0
    sink = _sink(webhook_server.url(), read_timeout=0.2, allowed_networks=LOOPBACK)
    events = [_stored(index) for index in range(3)]
    started = time.monotonic()
    result = sink.send(events, threading.Event())
    assert result.delivered == 0 and result.error is not None and "timed out" in result.error
    assert time.monotonic() - started < 0.9  # the read timeout, not the server, decided
    webhook_server.delay = 0.0
    assert sink.send(events, threading.Event()).delivered == 3
    # The timed-out request may have been handled too: at least once, in order.
    assert first_copies(webhook_server.accepted_ids()) == [e.id for e in events]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/hook",
    ],
)
def test_private_targets_are_refused_unless_allowed(
    webhook_server: WebhookServer, url: str
) -> None:
    sink = _sink(url.format(port=webhook_server.port))
    started = time.monotonic()
    result = sink.send([_stored(0)], threading.Event())
    assert result.delivered == 0
    assert result.error is not None and "refused" in result.error
    assert "allowed_networks" in result.error
    assert time.monotonic() - started < 2.0  # refused before connecting, not timed out
    assert webhook_server.received == []


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/hook", "http://localhost:1/"],
)
def test_a_redirect_to_a_private_target_is_refused(
    webhook_server: WebhookServer, location: str
) -> None:
    webhook_server.redirect = (307, location)
    sink = _sink(webhook_server.url(), allowed_networks=LOOPBACK)
    result = sink.send([_stored(0)], threading.Event())
    assert result.delivered == 0
    assert result.error is not None and "refused" in result.error
    assert [request.path for request in webhook_server.received] == ["/hook"]


def test_a_307_to_an_allowed_target_is_followed_and_302_is_not(
    webhook_server: WebhookServer,
) -> None:
    webhook_server.redirect = (307, "/final")
    sink = _sink(webhook_server.url(), allowed_networks=LOOPBACK)
    assert sink.send([_stored(0)], threading.Event()).delivered == 1
    assert [request.path for request in webhook_server.accepted] == ["/final"]
    webhook_server.redirect = (302, "/final")
    result = sink.send([_stored(1)], threading.Event())
    assert result.delivered == 0 and result.error is not None and "302" in result.error
    assert "final URL" in result.error


def test_credentials_are_masked_in_every_log_line(
    webhook_server: WebhookServer,
    tmp_path: Path,
    deliveries: Callable[..., DeliveryThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    password, token, secret = "S3cretPass", "tok-abc-123", "hmac-key-xyz"
    basic = base64.b64encode(f"hookuser:{password}".encode()).decode()
    # A receiver that echoes what it got into its error answer.
    webhook_server.status = 500
    webhook_server.answer_body = f"bad auth: Basic {basic} X-Token {token} {secret}".encode()
    environ = {"HOOK_PASSWORD": password, "HOOK_TOKEN": token, "HOOK_SECRET": secret}
    url = f"http://hookuser:${{HOOK_PASSWORD}}@127.0.0.1:{webhook_server.port}/hook"
    config = EventsConfig.model_validate(
        {
            "poll_interval": 0.02,
            "shutdown_timeout": 0.3,
            "sinks": [
                {
                    "kind": "webhook",
                    "url": url,
                    "headers": {"X-Token": "${HOOK_TOKEN}"},
                    "secret": "${HOOK_SECRET}",
                    "allowed_networks": LOOPBACK,
                }
                | FAST_RETRY
            ],
        }
    )
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, config.outbox) as outbox:
        outbox.append(sample_event(0))
    caplog.set_level(logging.DEBUG)
    delivery = deliveries(config, path, environ=environ)
    wait_for(lambda: len(webhook_server.received) >= 2, 10, "two failed POSTs")
    assert webhook_server.received[0].headers["Authorization"] == f"Basic {basic}"
    assert delivery.finish() == {"webhook": 1}
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "answered 500" in text and "***" in text
    for leaked in (password, token, secret, basic):
        assert leaked not in text
    # The event stayed in the outbox for the next start.
    with Outbox(path, config.outbox) as outbox:
        assert [json.loads(e.body)["payload"]["track_id"] for e in outbox.read_after(0, 9)] == [0]


def test_a_redirect_to_another_origin_drops_the_credentials(
    webhook_server: WebhookServer,
) -> None:
    other = WebhookServer()
    try:
        webhook_server.redirect = (308, other.url("/moved"))
        sink = _sink(
            f"http://hookuser:${{HOOK_PASSWORD}}@127.0.0.1:{webhook_server.port}/hook",
            {"HOOK_PASSWORD": "pw-1", "HOOK_TOKEN": "tok-2", "HOOK_SECRET": "key-3"},
            headers={"X-Token": "${HOOK_TOKEN}"},
            secret="${HOOK_SECRET}",
            allowed_networks=LOOPBACK,
        )
        event = _stored(0)
        assert sink.send([event], threading.Event()).delivered == 1
        (first,) = webhook_server.received
        assert first.headers["X-Token"] == "tok-2" and "Authorization" in first.headers
        (moved,) = other.accepted
        assert moved.path == "/moved" and moved.body == event.body.encode()
        assert "X-Token" not in moved.headers and "Authorization" not in moved.headers
        assert moved.headers["X-Vigia-Event-Id"] == event.id
        assert moved.headers["X-Vigia-Signature"].startswith("sha256=")
    finally:
        other.close()


def test_https_webhooks_verify_the_certificate(tmp_path: Path) -> None:
    ca, cert, key = make_certificates(tmp_path)
    server = WebhookServer(tls=(cert, key))
    try:
        trusted = _sink(server.url(), tls_ca_file=str(ca), allowed_networks=LOOPBACK)
        delivered = _stored(0)
        assert trusted.send([delivered], threading.Event()).delivered == 1
        untrusted = _sink(server.url(), allowed_networks=LOOPBACK)  # the system's CAs only
        result = untrusted.send([_stored(1)], threading.Event())
        assert result.delivered == 0
        assert result.error is not None and "CERTIFICATE_VERIFY_FAILED" in result.error
        assert server.accepted_ids() == [delivered.id]  # the refused one never got through
    finally:
        server.close()
