"""The `events:` section of a site file: the durable outbox and the sinks it is delivered to.

    events:
      directory: /var/lib/vigia/plant-a/events   # outbox and JSONL files (default below)
      outbox: {max_events: 100000, max_bytes: 268435456, when_full: drop_oldest}
      shutdown_timeout: 10
      sinks:
        - kind: file                              # rotating JSONL
          path: events.jsonl
        - kind: mqtt
          host: broker.plant-a.lan
          username: vigia
          password: ${MQTT_PASSWORD}
          tls: {enabled: true, ca_file: /etc/vigia/ca.pem}
        - kind: webhook
          url: https://alerts.example.com/vigia
          secret: ${WEBHOOK_SECRET}               # HMAC-SHA256 of the body, X-Vigia-Signature
          headers: {Authorization: "Bearer ${WEBHOOK_TOKEN}"}

Secrets are never written in the file: `password`, `secret` and header values name environment
variables as `${NAME}`; the delivery process expands them at start. Every sink has a `name`
(its delivery cursor in the outbox): keep it when editing a sink, or the renamed sink starts
over from the oldest event still held.
"""

from __future__ import annotations

import ipaddress
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pipeline.camera.urls import check_url_variables, mask_url, url_variables
from pipeline.config.frozen import Frozen

SINK_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# A secret field holds only a reference: `${NAME}`.
_SECRET_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token
_RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "x-vigia-signature"})

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class WhenFull(str, Enum):
    """What appending does when the outbox holds `max_events` or `max_bytes`."""

    DROP_OLDEST = "drop_oldest"  # the oldest held events are deleted (counted as dropped)
    REFUSE_NEW = "refuse_new"  # the new event is not stored (counted as refused)


class SinkKind(str, Enum):
    FILE = "file"
    MQTT = "mqtt"
    WEBHOOK = "webhook"


def _secret_reference(value: str, key: str) -> None:
    if not _SECRET_REFERENCE.match(value):
        raise ValueError(
            f"{key} must name an environment variable, e.g. {key}: ${{VIGIA_{key.upper()}}}; "
            "secrets are never written in the site file"
        )


class OutboxConfig(Frozen):
    max_events: int = Field(
        100_000, ge=10, le=100_000_000, title="Most events held (delivered or not)"
    )
    max_bytes: int = Field(
        256 * 2**20,
        ge=2**16,
        le=2**40,
        title="Most bytes of event JSON held (the file is somewhat larger)",
    )
    when_full: WhenFull = Field(
        WhenFull.DROP_OLDEST, title="drop_oldest (keep the newest) or refuse_new (keep the oldest)"
    )
    busy_timeout: float = Field(
        5.0,
        gt=0,
        le=60,
        title="Seconds a writer waits for another writer's transaction before giving up",
    )


class RetryConfig(Frozen):
    retry_initial: float = Field(
        1.0, gt=0, le=600, title="Seconds before the first retry of a failed delivery; doubles"
    )
    retry_max: float = Field(60.0, gt=0, le=3600, title="Longest wait between retries (seconds)")
    batch: int = Field(100, ge=1, le=10_000, title="Events read from the outbox per round")

    @model_validator(mode="after")
    def _backoff_grows(self) -> RetryConfig:
        if self.retry_max < self.retry_initial:
            raise ValueError(
                f"retry_max ({self.retry_max:g}) must be >= retry_initial ({self.retry_initial:g})"
            )
        return self


class FileSinkConfig(RetryConfig):
    """Events appended as JSON lines, rotated by size: events.jsonl, events.jsonl.1, ..."""

    kind: Literal[SinkKind.FILE] = SinkKind.FILE
    name: str = Field("file", pattern=SINK_NAME_PATTERN, title="Delivery cursor name")
    path: Path = Field(
        Path("events.jsonl"), title="JSONL file; relative paths resolve in events.directory"
    )
    max_bytes: int = Field(
        64 * 2**20, ge=4096, le=2**40, title="Size at which the file is rotated (bytes)"
    )
    backups: int = Field(10, ge=0, le=1000, title="Rotated files kept (0: truncate at rotation)")
    fsync: bool = Field(
        True,
        title="fsync before the outbox cursor advances (False: a power cut may lose lines "
        "already counted as delivered)",
    )


class MqttTlsConfig(Frozen):
    enabled: bool = False
    ca_file: Path | None = Field(None, title="CA bundle (PEM); None: the system's")
    cert_file: Path | None = Field(None, title="Client certificate (PEM), for mutual TLS")
    key_file: Path | None = Field(None, title="Client key (PEM)")

    @model_validator(mode="after")
    def _pair(self) -> MqttTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file for a client certificate, or none")
        return self


class MqttSinkConfig(RetryConfig):
    """Each event published with QoS 1 to `<topic_prefix>/<site>/<camera>/events/<type>`
    (`_site` for events of no camera); `<topic_prefix>/<site>/status` is `online`/`offline`,
    retained, with `offline` as the last will."""

    kind: Literal[SinkKind.MQTT] = SinkKind.MQTT
    name: str = Field("mqtt", pattern=SINK_NAME_PATTERN, title="Delivery cursor name")
    host: str = Field(min_length=1, max_length=253, title="Broker host name or address")
    port: int | None = Field(None, ge=1, le=65535, title="Broker port (None: 1883, 8883 with TLS)")
    tls: MqttTlsConfig = MqttTlsConfig()
    username: str | None = Field(None, min_length=1, title="User name; may be ${NAME}")
    password: str | None = Field(None, title="${NAME} of the environment variable")
    client_id: str | None = Field(
        None, min_length=1, max_length=64, title="MQTT client id (None: vigia-<site>-events)"
    )
    topic_prefix: str = Field("vigia", pattern=r"^[^#+/\s][^#+\s]*$", title="First topic levels")
    keepalive: int = Field(30, ge=5, le=3600, title="Seconds between keepalive pings")
    in_flight: int = Field(
        100,
        ge=1,
        le=65000,
        title="Events published before their PUBACKs arrive (some brokers cap it at 100)",
    )
    ack_timeout: float = Field(
        5.0, gt=0, le=600, title="Seconds to wait for PUBACKs before reporting the sink stalled"
    )
    reconnect_initial: float = Field(1.0, gt=0, le=600, title="Seconds before the first reconnect")
    reconnect_max: float = Field(60.0, gt=0, le=3600, title="Longest wait between reconnects")

    @model_validator(mode="before")
    @classmethod
    def _password_reference(cls, data: object) -> object:
        # Checked on the whole mapping, so that the error never carries the value itself.
        if isinstance(data, dict) and isinstance(data.get("password"), str):
            _secret_reference(data["password"], "password")
        return data

    @field_validator("username")
    @classmethod
    def _username_variables(cls, value: str | None) -> str | None:
        if value is not None:
            check_url_variables(value)
        return value

    @model_validator(mode="after")
    def _reconnect_grows(self) -> MqttSinkConfig:
        if self.reconnect_max < self.reconnect_initial:
            raise ValueError(
                f"reconnect_max ({self.reconnect_max:g}) must be >= reconnect_initial "
                f"({self.reconnect_initial:g})"
            )
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (8883 if self.tls.enabled else 1883)


class WebhookSinkConfig(RetryConfig):
    """Each event POSTed as JSON; any 2xx answer counts as delivered, anything else is
    retried with backoff (the event is never skipped)."""

    kind: Literal[SinkKind.WEBHOOK] = SinkKind.WEBHOOK
    name: str = Field("webhook", pattern=SINK_NAME_PATTERN, title="Delivery cursor name")
    url: str = Field(min_length=8, title="http:// or https:// URL; may hold ${NAME}")
    headers: dict[str, str] = Field(
        default_factory=dict, title="Extra request headers; values may hold ${NAME}"
    )
    secret: str | None = Field(
        None, title="${NAME} of the HMAC-SHA256 key; signs the body in X-Vigia-Signature"
    )
    connect_timeout: float = Field(5.0, gt=0, le=120, title="Seconds to connect (TCP and TLS)")
    read_timeout: float = Field(10.0, gt=0, le=600, title="Seconds to wait for the answer")
    max_redirects: int = Field(
        3, ge=0, le=10, title="307/308 redirects followed, each target checked again"
    )
    allowed_networks: tuple[IpNetwork, ...] = Field(
        (),
        title="Private, loopback or link-local networks the webhook may reach, e.g. "
        "[10.20.0.0/16]; public addresses are always allowed",
    )
    tls_ca_file: Path | None = Field(None, title="CA bundle (PEM) for https; None: the system's")

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for key, value in headers.items():
            if not _HEADER_NAME.match(key):
                raise ValueError(f"header name {key!r} is not a valid HTTP header name")
            if key.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {key} is set by the webhook sink itself; remove it")
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {key}: a value cannot span lines")
            check_url_variables(value)
        return headers

    @model_validator(mode="before")
    @classmethod
    def _check_url(cls, data: object) -> object:
        # Here rather than in field validators, so that errors show the URL masked only and
        # never the secret.
        if isinstance(data, dict) and isinstance(data.get("secret"), str):
            _secret_reference(data["secret"], "secret")
        url = data.get("url") if isinstance(data, dict) else None
        if isinstance(url, str):
            if not url.lower().startswith(("http://", "https://")):
                raise ValueError(f"url must start with http:// or https:// (got {mask_url(url)!r})")
            check_url_variables(url)
        return data


SinkConfig = FileSinkConfig | MqttSinkConfig | WebhookSinkConfig
Sink = Annotated[SinkConfig, Field(discriminator="kind")]


class EventsConfig(Frozen):
    directory: Path | None = Field(
        None,
        title="Folder of the outbox and JSONL files, kept across runs "
        "(None: <output_dir>/events, or runs/<site>/events)",
    )
    outbox: OutboxConfig = OutboxConfig()
    shutdown_timeout: float = Field(
        10.0, ge=0, le=600, title="Seconds the delivery process keeps delivering after a stop"
    )
    poll_interval: float = Field(
        0.1, gt=0, le=10, title="Seconds between outbox reads of a sink that is caught up"
    )
    sinks: tuple[Sink, ...] = Field((), title="Where events go; none: the outbox is not used")

    @model_validator(mode="after")
    def _unique_names(self) -> EventsConfig:
        seen: set[str] = set()
        for sink in self.sinks:
            if sink.name in seen:
                raise ValueError(
                    f"two sinks are named {sink.name!r}: give each its own `name:` "
                    "(it names the sink's delivery cursor in the outbox)"
                )
            seen.add(sink.name)
        return self

    def variable_uses(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(key path under `events`, variable name) of every ${NAME} the sinks use, e.g.
        (("sinks", 1, "headers", "Authorization"), "HOOK_TOKEN"), for the preflight."""
        uses: list[tuple[tuple[str | int, ...], str]] = []
        for index, sink in enumerate(self.sinks):
            fields: list[tuple[tuple[str, ...], str | None]] = []
            if isinstance(sink, MqttSinkConfig):
                fields = [(("username",), sink.username), (("password",), sink.password)]
            elif isinstance(sink, WebhookSinkConfig):
                fields = [(("url",), sink.url), (("secret",), sink.secret)]
                fields += [(("headers", name), value) for name, value in sink.headers.items()]
            uses.extend(
                (("sinks", index, *key), name)
                for key, text in fields
                for name in url_variables(text or "")
            )
        return uses

    def variables(self) -> list[str]:
        """Names of every environment variable the sinks use."""
        return list(dict.fromkeys(name for _, name in self.variable_uses()))


def events_directory(config: EventsConfig, site: str, output_dir: Path | None) -> Path:
    """Where the outbox lives: stable across runs, so that the next start delivers what a
    killed run left pending (a per-run folder would orphan it)."""
    if config.directory is not None:
        return config.directory
    if output_dir is not None:
        return output_dir / "events"
    return Path("runs") / site / "events"
