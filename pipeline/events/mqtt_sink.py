"""MQTT sink (paho-mqtt 2.x, MQTT 3.1.1, QoS 1).

Topics, with `topic_prefix` (default `vigia`):
    vigia/<site>/<camera>/events/<type>   each event, QoS 1, not retained; the payload is the
                                          event's JSON. <camera> is `_site` for events of no
                                          camera (camera ids cannot start with `_`).
    vigia/<site>/status                   `online` / `offline`, retained; `offline` is also the
                                          last will, published by the broker if the delivery
                                          process vanishes.
Subscribe to `vigia/<site>/+/events/#` for every event of a site, `vigia/+/+/events/violation.start`
for violation starts everywhere.

At least once: paho keeps unacknowledged messages in memory only, so an event counts as
delivered (the outbox cursor advances) only when its PUBACK has arrived. Within one process
run paho re-sends unacknowledged messages after each reconnect; after a restart the outbox
sends them again. A consumer de-duplicates by the event's `id`. At most `in_flight` events
are unacknowledged at once, in order, so the first copy of each event reaches a subscriber in
outbox order.

TLS: `tls.enabled` with the system's CAs or `tls.ca_file`, optionally a client certificate.
Credentials: `username` and `password: ${NAME}` from the environment. Reconnects: paho's
network thread, waiting `reconnect_initial` doubling to `reconnect_max` seconds (whole
seconds: paho's resolution).

Throughput is bounded by `in_flight` per round trip. mosquitto delays its small PUBACKs
(Nagle) unless `set_tcp_nodelay true` is in its config: bench/events.py measures both.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from pipeline.camera.urls import mask_secrets
from pipeline.config.events import MqttSinkConfig
from pipeline.events.credentials import Secrets
from pipeline.events.outbox import StoredEvent
from pipeline.events.sink import Delivery

logger = logging.getLogger(__name__)

SITE_SEGMENT = "_site"
ONLINE, OFFLINE = "online", "offline"
_WAIT_STEP = 0.05  # seconds between checks of `abort` while waiting for PUBACKs
_STALE_ACKS = 4096  # acknowledgements remembered beyond those awaited (status messages)


def event_topic(prefix: str, site: str, camera: str | None, kind: str) -> str:
    return f"{prefix}/{site}/{camera or SITE_SEGMENT}/events/{kind}"


def status_topic(prefix: str, site: str) -> str:
    return f"{prefix}/{site}/status"


class MqttSink:
    def __init__(self, config: MqttSinkConfig, site: str, environ: Mapping[str, str]) -> None:
        self.name = config.name
        self.config = config
        self.site = site
        self.status_topic = status_topic(config.topic_prefix, site)
        secrets = Secrets(config.name, environ)
        username = secrets.expand(config.username, "username") if config.username else None
        password = secrets.expand(config.password, "password") if config.password else None
        self._secrets = secrets.values
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id or f"vigia-{site}-events",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        # Room for the status message beside a full window of events: none waits "queued".
        self._client.max_inflight_messages_set(config.in_flight + 2)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(
            round(max(1.0, config.reconnect_initial)), round(max(1.0, config.reconnect_max))
        )
        self._client.will_set(self.status_topic, OFFLINE, qos=1, retain=True)
        if username is not None:
            self._client.username_pw_set(username, password)
        if config.tls.enabled:
            self._client.tls_set(
                ca_certs=str(config.tls.ca_file) if config.tls.ca_file else None,
                certfile=str(config.tls.cert_file) if config.tls.cert_file else None,
                keyfile=str(config.tls.key_file) if config.tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_publish = self._on_publish
        self._acked = threading.Condition()
        # mid -> number of the acknowledgement; an ack counts for a message only if it came
        # after that message was published (mids wrap at 65535 and are reused).
        self._acks: dict[int, int] = {}
        self._ack_count = 0
        self._waiting: dict[int, tuple[int, int]] = {}  # seq -> (mid, ack count at publish)
        self.connected = False
        self.connects = 0
        self._closing = False

    def describe(self) -> str:
        scheme = "mqtts" if self.config.tls.enabled else "mqtt"
        return f"{scheme}://{self.config.host}:{self.config.effective_port}"

    def _mask(self, text: str) -> str:
        return mask_secrets(text, self._secrets)

    # Callbacks run on paho's network thread.
    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            logger.error(
                "MQTT %s refused the connection: %s", self.describe(), self._mask(str(reason))
            )
            return
        sock = client.socket()
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Small packets go out at once (Nagle would hold a PUBLISH for the last one's ACK).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connected = True
        self.connects += 1
        client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        logger.info("MQTT connected to %s (connection %d)", self.describe(), self.connects)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        was = self.connected
        self.connected = False
        if self._closing:
            logger.info("MQTT disconnected from %s", self.describe())
        elif was:
            logger.warning(
                "MQTT %s disconnected (%s); reconnecting", self.describe(), self._mask(str(reason))
            )

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        logger.debug("MQTT %s: connection attempt failed", self.describe())

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        with self._acked:
            self._ack_count += 1
            self._acks[mid] = self._ack_count
            if len(self._acks) > len(self._waiting) + _STALE_ACKS:
                # Keep the awaited and the newest: an ack may arrive before send() has
                # recorded its message's mid.
                awaited = {waiting_mid for waiting_mid, _ in self._waiting.values()}
                recent = self._ack_count - _STALE_ACKS // 2
                self._acks = {m: n for m, n in self._acks.items() if m in awaited or n > recent}
            self._acked.notify_all()

    def open(self) -> None:
        self._client.connect_async(
            self.config.host, self.config.effective_port, keepalive=self.config.keepalive
        )
        self._client.loop_start()  # connects, reconnects with backoff, re-sends in-flight QoS 1

    def _is_acked(self, seq: int) -> bool:
        mid, published_at = self._waiting[seq]
        return self._acks.get(mid, 0) > published_at

    def send(self, events: Sequence[StoredEvent], abort: threading.Event) -> Delivery:
        window = events[: self.config.in_flight]
        if window:
            # Awaited events before this batch were dropped from a full outbox: forget them.
            for seq in [seq for seq in self._waiting if seq < window[0].seq]:
                del self._waiting[seq]
        for event in window:
            if event.seq in self._waiting:
                continue  # published before and still awaited: paho re-sends it, not us
            with self._acked:
                published_at = self._ack_count
            topic = event_topic(self.config.topic_prefix, self.site, event.camera, event.type.value)
            info = self._client.publish(topic, event.body, qos=1)
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                break  # cannot happen with an unbounded queue; retried next round if it does
            # MQTT_ERR_NO_CONN is fine: paho keeps the message and sends it once connected.
            self._waiting[event.seq] = (info.mid, published_at)
        deadline = time.monotonic() + self.config.ack_timeout
        done = 0
        with self._acked:
            while True:
                while (
                    done < len(window)
                    and window[done].seq in self._waiting
                    and (self._is_acked(window[done].seq))
                ):
                    done += 1
                remaining = deadline - time.monotonic()
                if done == len(window) or remaining <= 0 or abort.is_set():
                    break
                self._acked.wait(min(_WAIT_STEP, remaining))
            for event in window[:done]:
                mid, _ = self._waiting.pop(event.seq)
                self._acks.pop(mid, None)
        if done < len(window):
            state = "connected" if self.connected else "not connected, reconnecting"
            return Delivery(
                done,
                f"no PUBACK from {self.describe()} within {self.config.ack_timeout:g}s ({state})",
            )
        return Delivery(done)

    def close(self, timeout: float) -> None:
        """Say `offline` (retained) when connected, then disconnect and stop paho's thread."""
        self._closing = True
        try:
            if self.connected:
                with self._acked:
                    published_at = self._ack_count
                info = self._client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
                deadline = time.monotonic() + max(0.0, timeout)
                mid = info.mid
                with self._acked:
                    while self._acks.get(mid, 0) <= published_at and time.monotonic() < deadline:
                        self._acked.wait(_WAIT_STEP)
            self._client.disconnect()
        finally:
            self._client.loop_stop()
