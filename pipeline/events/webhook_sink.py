"""Webhook sink: each event POSTed as JSON, in order, until a 2xx answer.

Request: `POST <url>`, body the event's JSON (UTF-8), headers
    Content-Type: application/json
    X-Vigia-Event-Id: <id>                   the same on every retry: de-duplicate by it
    X-Vigia-Signature: sha256=<hex>          HMAC-SHA256 of the body with `secret` (if set)
plus the configured `headers` (values may hold ${NAME}) and Basic credentials from URL
userinfo (`https://user:${PASS}@host/...`).

Answers: 2xx counts as delivered. Anything else (5xx, 4xx, a timeout, a refused connection)
is retried after `retry_initial` seconds doubling to `retry_max`; an event is never skipped,
so the events after it wait (in order). Redirects: 307 and 308 (which keep the POST) are
followed up to `max_redirects` times, each target resolved and checked again like the first
(targets.py); a redirect to another origin drops the configured headers and credentials, and
https is never redirected to http. 301, 302 and 303 (which turn a POST into a GET) are not
followed: configure the final URL.

Timeouts: `connect_timeout` for TCP and TLS set-up, `read_timeout` for each wait on the answer.
Every message this sink logs or returns masks the URL's password (mask_url) and every value
expanded from the environment (secret, header values, credentials).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import logging
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from pipeline.camera.urls import mask_secrets
from pipeline.config.events import WebhookSinkConfig
from pipeline.events.credentials import Secrets
from pipeline.events.outbox import StoredEvent
from pipeline.events.sink import Backoff, Delivery
from pipeline.events.targets import Target, TargetRefused, resolve_target

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Vigia-Signature"
EVENT_ID_HEADER = "X-Vigia-Event-Id"
USER_AGENT = "vigia-events/1"
ANSWER_EXCERPT = 200  # characters of a failed answer's body shown in the log
_ANSWER_READ = 65536  # bytes of an answer read at most


def sign(secret: str, body: bytes) -> str:
    """The X-Vigia-Signature value: `sha256=` + hex HMAC-SHA256 of the raw body. A receiver
    recomputes it over the bytes it received and compares with hmac.compare_digest."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _connect(target: Target, connect_timeout: float, read_timeout: float) -> socket.socket:
    """A TCP connection to the first checked address that answers."""
    last: OSError | None = None
    for family, address in target.addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(connect_timeout)
            sock.connect(address)
            sock.settimeout(read_timeout)
            return sock
        except OSError as error:
            sock.close()
            last = error
    raise last or OSError(f"no address to connect to for {target.host}")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked addresses of `target`, never resolving the name again."""

    def __init__(self, target: Target, connect_timeout: float, read_timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=connect_timeout)
        self._target, self._timeouts = target, (connect_timeout, read_timeout)

    def connect(self) -> None:
        self.sock = _connect(self._target, *self._timeouts)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, target: Target, connect_timeout: float, read_timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(target.host, target.port, timeout=connect_timeout, context=context)
        self._target, self._timeouts, self._tls = target, (connect_timeout, read_timeout), context

    def connect(self) -> None:
        sock = _connect(self._target, *self._timeouts)
        sock.settimeout(self._timeouts[0])  # the handshake is part of connecting
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self._target.host)
        except BaseException:
            sock.close()
            raise
        self.sock.settimeout(self._timeouts[1])


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    location: str | None
    body: bytes


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


class WebhookSink:
    def __init__(self, config: WebhookSinkConfig, environ: Mapping[str, str]) -> None:
        self.name = config.name
        self.config = config
        secrets = Secrets(config.name, environ)
        self._url = secrets.expand(config.url, "url")
        self._headers = {
            key: secrets.expand(value, f"headers.{key}") for key, value in config.headers.items()
        }
        self._secret = secrets.expand(config.secret, "secret") if config.secret else None
        parts = urlsplit(self._url)
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            secrets.values.append(credentials)
            token = base64.b64encode(credentials.encode()).decode()
            secrets.values.append(token)
            self._headers["Authorization"] = f"Basic {token}"
        self._secrets = secrets.values
        self._tls = ssl.create_default_context(
            cafile=str(config.tls_ca_file) if config.tls_ca_file else None
        )
        self._backoff = Backoff(config.retry_initial, config.retry_max)
        self.posts = 0  # requests made, retries and redirects included

    def _mask(self, text: str) -> str:
        return mask_secrets(text, self._secrets)

    def describe(self) -> str:
        return f"webhook {self._mask(self._url)}"

    def open(self) -> None:
        """Nothing to open: every POST makes its own connection, to an address checked then."""

    def close(self, timeout: float) -> None:
        """Nothing held between POSTs."""

    def send(self, events: Sequence[StoredEvent], abort: threading.Event) -> Delivery:
        for index, event in enumerate(events):
            if abort.is_set():
                return Delivery(index)
            problem = self._post(event)
            if problem is not None:
                return Delivery(index, problem, self._backoff.failure())
            self._backoff.success()
        return Delivery(len(events))

    def _post(self, event: StoredEvent) -> str | None:
        """None when the event is accepted; otherwise why not (masked)."""
        body = event.body.encode()
        common = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event.id,
        }
        if self._secret is not None:
            common[SIGNATURE_HEADER] = sign(self._secret, body)
        headers = {**common, **self._headers}
        url = self._url
        for hop in range(self.config.max_redirects + 1):
            parts = urlsplit(url)
            where = self._mask(url)
            try:
                target = resolve_target(
                    parts.hostname or "",
                    parts.port or (443 if parts.scheme == "https" else 80),
                    self.config.allowed_networks,
                )
            except TargetRefused as error:
                return self._mask(f"refused to POST to {where}: {error}")
            except (OSError, UnicodeError) as error:
                return self._mask(f"cannot resolve {parts.hostname} of {where}: {error}")
            try:
                answer = self._request(target, parts.scheme, parts.path, parts.query, body, headers)
            except (OSError, http.client.HTTPException, ssl.SSLError) as error:
                return self._mask(f"POST {where} failed: {type(error).__name__}: {error}")
            if 200 <= answer.status < 300:
                return None
            if answer.status in (307, 308) and answer.location:
                following = urljoin(url, answer.location)
                problem = self._redirect_problem(url, following, hop)
                if problem is not None:
                    return problem
                if _origin(following) != _origin(url):
                    headers = dict(common)  # no credentials to another origin
                logger.info("Webhook: %s redirects to %s", where, self._mask(following))
                url = following
                continue
            if answer.status in (301, 302, 303):
                return self._mask(
                    f"POST {where} answered {answer.status} to {answer.location}: a redirect that "
                    "turns the POST into a GET is not followed; configure the final URL"
                )
            excerpt = answer.body[:ANSWER_EXCERPT].decode("utf-8", "replace").strip()
            return self._mask(
                f"POST {where} answered {answer.status} {answer.reason}"
                + (f": {excerpt!r}" if excerpt else "")
            )
        return self._mask(f"POST {self._url}: more than {self.config.max_redirects} redirects")

    def _redirect_problem(self, current: str, following: str, hop: int) -> str | None:
        scheme = urlsplit(following).scheme.lower()
        if hop >= self.config.max_redirects:
            return self._mask(
                f"POST {current} redirects again (to {following}) after "
                f"{self.config.max_redirects} redirects (max_redirects)"
            )
        if scheme not in ("http", "https"):
            return self._mask(f"POST {current} redirects to {following}: not http(s)")
        if urlsplit(current).scheme.lower() == "https" and scheme == "http":
            return self._mask(f"POST {current} redirects from https to http ({following}): refused")
        return None

    def _request(
        self,
        target: Target,
        scheme: str,
        path: str,
        query: str,
        body: bytes,
        headers: dict[str, str],
    ) -> _Answer:
        timeouts = (self.config.connect_timeout, self.config.read_timeout)
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = _PinnedHTTPSConnection(target, *timeouts, self._tls)
        else:
            connection = _PinnedHTTPConnection(target, *timeouts)
        self.posts += 1
        try:
            connection.request(
                "POST", (path or "/") + (f"?{query}" if query else ""), body, headers
            )
            response = connection.getresponse()
            data = response.read(_ANSWER_READ)
            return _Answer(response.status, response.reason, response.getheader("Location"), data)
        finally:
            connection.close()
