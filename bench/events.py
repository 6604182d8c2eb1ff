"""Events benchmark: outbox append latency, and events/s through the outbox to each sink.

    python -m bench.events [--events 2000] [--appends 500]

(a) append: one producer appends `--appends` violation events one at a time (each fsynced,
    as a camera process does), first alone, then while a delivery thread drains the outbox
    to a JSONL file (readers and cursor commits contend with it); p50/p99/max in ms.
(b) mqtt: `--events` events stored first, then run_delivery to a local mosquitto (started
    here on a free port; `apt-get install -y mosquitto`); events/s = events / seconds until
    every PUBACK is in and the cursor has passed them all.
(c) webhook: the same to a local ThreadingHTTPServer answering 204 (in this process, so it
    shares the interpreter with the delivery thread: a floor, not a ceiling).

(b) runs twice: mosquitto as installed, and with `set_tcp_nodelay true` (without it the
broker holds small PUBACKs for Nagle's algorithm, which bounds a QoS 1 publisher).

(d) camera: what recording and evidence add to a camera loop, and the pre-roll's memory
(bench/evidence.py (b), at `--size`, 10 frames/s, `--camera-seconds` per run; that
benchmark has the encoder's and the rich stream's figures too).

Last line: `events/s=N outbox_p99_ms=N camera_cost=N.NNx preroll_mb=N`, events/s being the
slower of MQTT (default mosquitto config) and the webhook (sinks run side by side; a site
with both is held to the slower), outbox_p99_ms from (a) with delivery running, camera_cost
and preroll_mb from (d).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2

from bench import evidence
from pipeline.config.events import EventsConfig
from pipeline.events.delivery import run_delivery
from pipeline.events.outbox import Outbox
from pipeline.events.schema import Event, EventType, build_event

SITE = "bench"


class _Stop:
    def __init__(self) -> None:
        self.flag = threading.Event()

    @property
    def requested(self) -> bool:
        return self.flag.is_set()


def _event(index: int) -> Event:
    return build_event(
        EventType.VIOLATION_START,
        site=SITE,
        camera=f"CAM{index % 16:03d}",
        payload={
            "zone": "scaffold",
            "track_id": index,
            "missing": ["helmet", "vest"],
            "started_at": "2024-01-15T10:30:45.123Z",
            "confidence": 0.87,
            "box": [512.0, 200.5, 640.0, 580.25],
            "snapshot": f"evidence/CAM{index % 16:03d}/{index}-start.jpg",
        },
        time=time.time(),
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _percentiles(durations: list[float]) -> str:
    ordered = sorted(durations)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"p50 {statistics.median(ordered) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, "
        f"max {ordered[-1] * 1e3:.2f} ms"
    )


def bench_append(folder: Path, count: int, with_delivery: bool) -> list[float]:
    config = EventsConfig.model_validate({"poll_interval": 0.01, "sinks": [{"kind": "file"}]})
    path = folder / f"append-{int(with_delivery)}.sqlite3"
    outbox = Outbox(path, config.outbox)
    stop = _Stop()
    thread = None
    if with_delivery:
        thread = threading.Thread(target=run_delivery, args=(config, path, SITE, stop))
        thread.start()
    durations = []
    for index in range(count):
        event = _event(index)
        started = time.perf_counter()
        outbox.append(event)
        durations.append(time.perf_counter() - started)
        time.sleep(0.001)  # a camera emits between frames, not in a tight loop
    stop.flag.set()
    if thread is not None:
        thread.join()
    outbox.close()
    return durations


def bench_sink(folder: Path, name: str, sink: dict[str, Any], count: int) -> float:
    """events/s from a full outbox to `sink`, until every event is acknowledged."""
    config = EventsConfig.model_validate({"poll_interval": 0.01, "sinks": [sink]})
    path = folder / f"{name}.sqlite3"
    with Outbox(path, config.outbox) as outbox:
        for index in range(count):
            outbox.append(_event(index))
        stop = _Stop()
        thread = threading.Thread(target=run_delivery, args=(config, path, SITE, stop))
        started = time.perf_counter()
        thread.start()
        sink_name = config.sinks[0].name
        while outbox.cursor(sink_name) < count:
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
    stop.flag.set()
    thread.join()
    return count / elapsed


def _with_mosquitto(folder: Path, nodelay: bool, run: Callable[[int], float]) -> float | None:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        print("mqtt: skipped, mosquitto is not installed (apt-get install -y mosquitto)")
        return None
    port = _free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        + ("set_tcp_nodelay true\n" if nodelay else "")
    )
    broker = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        return run(port)
    finally:
        broker.terminate()
        broker.wait(10)


def _with_webhook(run: Callable[[int], float]) -> float:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return run(int(server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()


CAMERA_FPS = 10.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.add_argument("--events", type=int, default=2000, help="events per sink run")
    parser.add_argument("--appends", type=int, default=500, help="appends timed per phase")
    parser.add_argument("--size", default="1920x1080", help="(d) WIDTHxHEIGHT of the camera")
    parser.add_argument(
        "--camera-seconds", type=float, default=12.0, help="(d) per loop run (12-25)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="vigia-bench-events-") as name:
        folder = Path(name)
        alone = bench_append(folder, args.appends, with_delivery=False)
        busy = bench_append(folder, args.appends, with_delivery=True)
        print(f"append alone:             {_percentiles(alone)}", flush=True)
        print(f"append, delivery running: {_percentiles(busy)}", flush=True)
        rates: dict[bool, float | None] = {}
        for nodelay in (False, True):
            rates[nodelay] = _with_mosquitto(
                folder,
                nodelay,
                lambda port, nodelay=nodelay: bench_sink(  # type: ignore[misc]
                    folder,
                    f"mqtt-{int(nodelay)}",
                    {"kind": "mqtt", "host": "127.0.0.1", "port": port},
                    args.events,
                ),
            )
            rate = rates[nodelay]
            if rate is not None:
                setting = "set_tcp_nodelay true" if nodelay else "default config"
                print(f"mqtt, mosquitto {setting}: {rate:,.0f} events/s", flush=True)
        mqtt = rates[False]
        webhook = _with_webhook(
            lambda port: bench_sink(
                folder,
                "webhook",
                {
                    "kind": "webhook",
                    "url": f"http://127.0.0.1:{port}/hook",
                    "allowed_networks": ["127.0.0.1/32"],
                },
                args.events,
            )
        )
        print(f"webhook (POST each):       {webhook:,.0f} events/s", flush=True)
        width, height = (int(v) for v in args.size.lower().split("x"))
        cv2.setNumThreads(1)  # as in a camera process
        frames, truths = evidence.render((width, height), CAMERA_FPS)
        camera_cost, on, off = evidence.loop_cost(
            frames, truths, CAMERA_FPS, args.camera_seconds, folder
        )
        print(
            f"camera {width}x{height} at {CAMERA_FPS:g} frames/s: CPU/frame off "
            f"{off['cpu_ms']:.1f} ms, recording + evidence on {on['cpu_ms']:.1f} ms; "
            f"pre-roll {on['preroll_mb']:.1f} MB ({evidence.PREROLL_S:g} s)",
            flush=True,
        )
    ordered = sorted(busy)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3
    slowest = min(rate for rate in (mqtt, webhook) if rate is not None)
    print(
        f"events/s={slowest:.0f} outbox_p99_ms={p99:.1f} camera_cost={camera_cost:.2f}x "
        f"preroll_mb={on['preroll_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
