"""MQTT sink against a real mosquitto: topics, retained status, a broker killed mid-run."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config.events import EventsConfig
from pipeline.events.outbox import Outbox
from pipeline.events.schema import EventType, build_event
from tests.events.conftest import (
    SITE,
    DeliveryThread,
    Mosquitto,
    Subscriber,
    TcpGate,
    first_copies,
    free_port,
    make_certificates,
    sample_event,
    wait_for,
)

APPEND_BOUND_S = 1.0  # far above a normal append: "not blocked", not "fast"
STATUS = f"vigia/{SITE}/status"


def _config(port: int, **mqtt: object) -> EventsConfig:
    return EventsConfig.model_validate(
        {
            "poll_interval": 0.02,
            "shutdown_timeout": 3,
            "sinks": [
                {
                    "kind": "mqtt",
                    "host": "127.0.0.1",
                    "port": port,
                    "reconnect_initial": 1,
                    "reconnect_max": 1,
                    "ack_timeout": 0.5,
                    **mqtt,
                }
            ],
        }
    )


def test_events_arrive_on_their_topics_and_the_status_is_retained(
    tmp_path: Path,
    mosquitto: Mosquitto,
    subscribers: Callable[..., Subscriber],
    deliveries: Callable[..., DeliveryThread],
) -> None:
    live = subscribers(mosquitto.port, f"vigia/{SITE}/#")
    config = _config(mosquitto.port)
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, config.outbox)
    events = [sample_event(index, camera=f"CAM{index % 2}") for index in range(8)]
    events.append(
        build_event(
            EventType.PROCESS_FATAL,
            site=SITE,
            camera=None,
            payload={"process": "INFERENCE", "exit_code": 3, "restarts": 0, "reason": "model"},
            time=time.time(),
        )
    )
    for event in events:
        outbox.append(event)
    delivery = deliveries(config, path)
    wait_for(lambda: len(live.events()) == len(events), 10, "every event at the subscriber")
    assert [item["id"] for item in live.events()] == [event.id for event in events]
    topics = [t for t, _, _ in live.messages if "/events/" in t]
    assert topics[:2] == [
        f"vigia/{SITE}/CAM0/events/violation.start",
        f"vigia/{SITE}/CAM1/events/violation.start",
    ]
    assert topics[-1] == f"vigia/{SITE}/_site/events/process.fatal"
    first_payload, _ = live.payloads(f"vigia/{SITE}/CAM0/events/violation.start")[0]
    assert first_payload == events[0].to_json().encode()
    late = subscribers(mosquitto.port, STATUS)
    wait_for(lambda: late.payloads(STATUS) == [(b"online", True)], 5, "retained online")
    assert delivery.finish() == {"mqtt": 0}
    after = subscribers(mosquitto.port, STATUS)
    wait_for(lambda: after.payloads(STATUS) == [(b"offline", True)], 5, "retained offline")
    outbox.close()


def test_a_broker_killed_mid_run_and_restarted_loses_nothing(
    tmp_path: Path,
    mosquitto: Mosquitto,
    subscribers: Callable[..., Subscriber],
    deliveries: Callable[..., DeliveryThread],
) -> None:
    """SIGKILL the broker while events flow, restart it: every event arrives, the ids
    de-duplicate to exactly the set produced, first copies in the order produced."""
    gate = TcpGate(mosquitto.port)  # the sink reaches the broker only through the gate
    subscriber = subscribers(mosquitto.port, f"vigia/{SITE}/+/events/#")
    config = _config(gate.port)
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, config.outbox)
    delivery = deliveries(config, path)
    produced: list[str] = []
    durations: list[float] = []

    def produce() -> None:
        with Outbox(path, config.outbox) as own:
            for index in range(60):
                event = sample_event(index, camera=f"CAM{index % 3}")
                started = time.perf_counter()
                own.append(event)
                durations.append(time.perf_counter() - started)
                produced.append(event.id)
                time.sleep(0.04)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_for(lambda: len(subscriber.events()) >= 15, 10, "the first events")
        gate.is_open = False
        mosquitto.kill()
        time.sleep(0.5)  # events keep being appended while the broker is gone
        arrived_before = len(subscriber.events())
        mosquitto.start()
        wait_for(subscriber.subscribed.is_set, 10, "the subscriber back on the new broker")
        gate.is_open = True
        producer.join(30)
        wait_for(
            lambda: set(item["id"] for item in subscriber.events()) == set(produced),
            20,
            "every event after the restart",
        )
        pending = delivery.finish()
    finally:
        producer.join(30)
        gate.close()
    ids = [item["id"] for item in subscriber.events()]
    assert first_copies(ids) == produced
    assert arrived_before < len(produced)  # the kill really was mid-run
    assert pending == {"mqtt": 0}
    assert max(durations) < APPEND_BOUND_S
    assert all(json.loads(body)["schema"] == "vigia.event/1" for _, body, _ in subscriber.messages)
    outbox.close()


@pytest.mark.parametrize("password_right", [True, False])
def test_tls_and_credentials_from_the_environment(
    tmp_path: Path,
    subscribers: Callable[..., Subscriber],
    deliveries: Callable[..., DeliveryThread],
    caplog: pytest.LogCaptureFixture,
    password_right: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    folder = tmp_path / "broker"
    folder.mkdir()
    ca, cert, key = make_certificates(folder)
    passwords = folder / "passwd"
    passwords.write_text("")
    subprocess.run(
        ["mosquitto_passwd", "-b", str(passwords), "vigia", "s3cret-mq"],
        check=True,
        capture_output=True,
    )
    broker = Mosquitto(
        folder,
        free_port(),
        extra=f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\npassword_file {passwords}\n",
    ).start()
    try:
        subscriber = subscribers(
            broker.port, f"vigia/{SITE}/+/events/#", ca_file=ca, credentials=("vigia", "s3cret-mq")
        )
        config = _config(
            broker.port,
            tls={"enabled": True, "ca_file": str(ca)},
            username="vigia",
            password="${MQ_PASSWORD}",
        ).model_copy(update={"shutdown_timeout": 0.5})
        path = tmp_path / "outbox.sqlite3"
        outbox = Outbox(path, config.outbox)
        events = [sample_event(index) for index in range(5)]
        for event in events:
            outbox.append(event)
        given = "s3cret-mq" if password_right else "wrong-pass-123"
        delivery = deliveries(config, path, environ={"MQ_PASSWORD": given})
        if password_right:
            wait_for(lambda: len(subscriber.events()) == 5, 10, "events over TLS")
            assert [item["id"] for item in subscriber.events()] == [e.id for e in events]
            assert delivery.finish() == {"mqtt": 0}
        else:
            wait_for(
                lambda: any("refused the connection" in r.getMessage() for r in caplog.records),
                10,
                "the broker's refusal in the log",
            )
            assert delivery.finish() == {"mqtt": 5}
            assert subscriber.events() == []
        assert all(given not in record.getMessage() for record in caplog.records)
        outbox.close()
    finally:
        broker.stop()
