"""Fixtures of the events tests: a real mosquitto, a local webhook server, a TCP gate.

mosquitto and openssl come from Debian's packages of the same names (system-packages.txt); a
test that needs one fails, naming it, where it is missing. The webhook server is the standard library's
ThreadingHTTPServer on 127.0.0.1, scripted per test (fail with 500 until a time, answer slowly,
redirect).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from pipeline.config.events import EventsConfig
from pipeline.events.delivery import DeliveryStatus, run_delivery
from pipeline.events.outbox import Outbox
from pipeline.events.schema import Event, EventType, build_event
from tests.system import require_program


def mosquitto_program() -> str:
    return require_program("mosquitto", "mosquitto", "/usr/sbin/mosquitto")


def openssl_program() -> str:
    return require_program("openssl", "openssl")


READY_TIMEOUT = 10.0
SITE = "plant-a"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def sample_event(index: int, camera: str = "CAM063", site: str = SITE) -> Event:
    """A violation start numbered `index` (its track id), as the compliance rules emit."""
    return build_event(
        EventType.VIOLATION_START,
        site=site,
        camera=camera,
        payload={
            "zone": "scaffold",
            "track_id": index,
            "missing": ["helmet"],
            "started_at": "2024-01-15T10:30:45.123Z",
            "confidence": 0.9,
        },
        time=time.time(),
    )


class StopAfter:
    """A stop signal for run_delivery in a thread (the process uses lifecycle.StopFlag)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()


@dataclass
class DeliveryThread:
    """run_delivery on a thread of the test process, stopped at teardown."""

    config: EventsConfig
    outbox_path: Path
    environ: dict[str, str] = field(default_factory=dict)
    heartbeat: Callable[[DeliveryStatus], None] | None = None
    stop: StopAfter = field(default_factory=StopAfter)
    pending: dict[str, int] | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = None

    def start(self) -> DeliveryThread:
        def target() -> None:
            try:
                self.pending = run_delivery(
                    self.config,
                    self.outbox_path,
                    SITE,
                    self.stop,
                    self.heartbeat,
                    environ=self.environ,
                )
            except BaseException as error:
                self.error = error

        self._thread = threading.Thread(target=target, name="delivery", daemon=True)
        self._thread.start()
        return self

    def finish(self, timeout: float = 20.0) -> dict[str, int]:
        self.stop.set()
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "run_delivery did not return after stop"
        if self.error is not None:
            raise self.error
        assert self.pending is not None
        return self.pending


@pytest.fixture
def deliveries() -> Iterator[Callable[..., DeliveryThread]]:
    started: list[DeliveryThread] = []

    def start(config: EventsConfig, outbox_path: Path, **kwargs: Any) -> DeliveryThread:
        thread = DeliveryThread(config, outbox_path, **kwargs).start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        if thread._thread is not None and thread._thread.is_alive():
            thread.stop.set()
            thread._thread.join(20)


def open_outbox(path: Path, config: EventsConfig) -> Outbox:
    return Outbox(path, config.outbox)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
    san = folder / "san.cnf"
    san.write_text("subjectAltName=IP:127.0.0.1\n")
    commands = [
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=test CA"],
        ["req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        [
            "x509",
            "-req",
            "-in",
            request,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "1",
            "-extfile",
            san,
        ],
    ]
    for command in commands:
        subprocess.run([openssl_program(), *map(str, command)], check=True, capture_output=True)
    return ca, cert, key


# --- mosquitto ------------------------------------------------------------------------------


@dataclass
class Mosquitto:
    """One mosquitto on 127.0.0.1:`port`; kill() and start() again on the same port."""

    folder: Path
    port: int
    extra: str = ""  # more configuration lines (TLS, password_file, ...)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        assert self.process is None, "already running"
        config = self.folder / "mosquitto.conf"
        anonymous = "false" if "password_file" in self.extra else "true"
        # Started as root, mosquitto would switch to user mosquitto, who cannot read files in
        # pytest's private temporary folders (keys, password file).
        user = "user root\n" if os.geteuid() == 0 else ""
        config.write_text(
            user
            + f"listener {self.port} 127.0.0.1\nallow_anonymous {anonymous}\npersistence false\n"
            f"log_dest file {self.folder / 'mosquitto.log'}\n{self.extra}"
        )
        self.process = subprocess.Popen(
            [mosquitto_program(), "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _accepts(self.port), READY_TIMEOUT, f"mosquitto on port {self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without a word to its clients."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto_program()  # a missing broker fails the test, naming the package
    folder = tmp_path / "broker"
    folder.mkdir()
    broker = Mosquitto(folder, free_port()).start()
    yield broker
    broker.stop()


class Subscriber:
    """A paho client that records every message on `topic` (QoS 0: it sends the broker
    nothing back, so a killed broker's last packets to it are not reset away)."""

    def __init__(
        self,
        port: int,
        topic: str,
        ca_file: Path | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.port = port
        self.topic = topic
        self.messages: list[tuple[str, bytes, bool]] = []  # topic, payload, retained
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}-{id(self)}"
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *args: self.subscribed.clear()
        self.client.reconnect_delay_set(1, 1)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file))
        if credentials is not None:
            self.client.username_pw_set(*credentials)

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(self.topic, qos=0)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def start(self) -> Subscriber:
        self.client.connect_async("127.0.0.1", self.port, keepalive=60)
        self.client.loop_start()
        if not self.subscribed.wait(READY_TIMEOUT):
            raise AssertionError(f"subscriber on port {self.port} did not subscribe")
        return self

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                json.loads(payload) for topic, payload, _ in self.messages if "/events/" in topic
            ]

    def payloads(self, topic: str) -> list[tuple[bytes, bool]]:
        with self._lock:
            return [(payload, retained) for t, payload, retained in self.messages if t == topic]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    started: list[Subscriber] = []

    def start(port: int, topic: str, **options: Any) -> Subscriber:
        subscriber = Subscriber(port, topic, **options).start()
        started.append(subscriber)
        return subscriber

    yield start
    for subscriber in started:
        subscriber.stop()


class TcpGate:
    """A TCP relay 127.0.0.1:port -> 127.0.0.1:upstream that the test opens and closes.

    Closed, it accepts and hangs up at once (as a host whose broker is down). It lets a test
    restart the broker and re-subscribe its own client before the sink can reconnect, so that
    nothing the sink publishes goes to a broker with no subscriber yet.
    """

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.is_open = True
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._running = True
        threading.Thread(target=self._accept, daemon=True, name="gate").start()

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.is_open:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=2)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._pairs.append((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._running = False
        self._listener.close()
        with self._lock:
            for pair in self._pairs:
                for end in pair:
                    end.close()


# --- webhook server -------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookServer:
    """POSTs answered by the current script: `status` (or 500 until `fail_until`),
    after `delay` seconds; `redirect` answers that status with a Location."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: (certificate, key) to serve https."""
        self.received: list[Received] = []  # every request, failed ones included
        self.accepted: list[Received] = []  # those answered 2xx
        self.fail_until = 0.0  # time.monotonic() until which every request gets 500
        self.delay = 0.0
        self.status = 200
        self.redirect: tuple[int, str] | None = None
        self.answer_body = b""
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
                status, location = server.answer(request)
                if server.delay:
                    time.sleep(server.delay)
                if 200 <= status < 300:  # recorded before the sender can see the answer
                    with server._lock:
                        server.accepted.append(request)
                try:
                    self.send_response(status)
                    if location:
                        self.send_header("Location", location)
                    self.send_header("Content-Length", str(len(server.answer_body)))
                    self.end_headers()
                    self.wfile.write(server.answer_body)
                except OSError:
                    pass  # the sender gave up waiting (its read timeout): as a real receiver

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def answer(self, request: Received) -> tuple[int, str | None]:
        with self._lock:
            self.received.append(request)
        if time.monotonic() < self.fail_until:
            return 500, None
        if self.redirect is not None and request.path == "/hook":
            return self.redirect
        return self.status, None

    def accepted_ids(self) -> list[str]:
        with self._lock:
            return [json.loads(request.body)["id"] for request in self.accepted]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer()
    yield server
    server.close()


def first_copies(ids: list[str]) -> list[str]:
    """`ids` without repeats, each where it first appeared (what a de-duplicating consumer
    keeps)."""
    return list(dict.fromkeys(ids))
