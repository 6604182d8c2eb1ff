"""The delivery loop: the outbox drained to every sink, in order, at least once.

    run_delivery(config, outbox_path, site, stop, heartbeat) -> pending events per sink

One thread per sink (SinkWorker) with its own outbox connection and cursor: a sink that is
down or slow only holds back itself. Each worker reads the events after its cursor, hands them
to its sink, and advances the cursor (fsynced) by what the sink acknowledged; a failure waits
the sink's backoff and tries the same events again. The loop's own thread feeds `heartbeat`,
prunes events every sink has, and watches the workers.

Stop: workers keep delivering for up to `shutdown_timeout` seconds, each finishing when caught
up; then they are aborted, and the events still pending per sink are logged (the next start
delivers them). A kill of this process loses nothing: cursors only ever move past events that
a sink acknowledged, so at worst a few events are delivered twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.config.events import (
    EventsConfig,
    FileSinkConfig,
    MqttSinkConfig,
    SinkConfig,
    WebhookSinkConfig,
)
from pipeline.events.file_sink import JsonlFileSink
from pipeline.events.mqtt_sink import MqttSink
from pipeline.events.outbox import Outbox, OutboxError, OutboxStats
from pipeline.events.sink import Backoff, Sink
from pipeline.events.webhook_sink import WebhookSink

logger = logging.getLogger(__name__)

TICK = 0.25  # seconds between heartbeats of the delivery loop
PRUNE_INTERVAL = 2.0  # seconds between prunes of delivered events
STILL_FAILING_INTERVAL = 60.0  # seconds between "still failing" lines of one sink
CLOSE_TIMEOUT = 2.0  # seconds a sink may take to close (MQTT: its `offline` status)


class StopSignal(Protocol):
    """`pipeline.lifecycle.StopFlag`, or anything with a `requested` flag."""

    @property
    def requested(self) -> bool: ...


class DeliveryCrashed(RuntimeError):
    """A sink's worker died of an unexpected error (a bug): the process should restart."""


@dataclass(frozen=True)
class SinkStatus:
    name: str
    destination: str  # masked
    delivered: int  # events acknowledged by this sink since the process started
    pending: int  # events held that it has not acknowledged
    lost: int  # events dropped from a full outbox before this sink had them (this run)
    failing_since: float | None  # time.monotonic() of the first failure in a row, or None
    last_error: str | None


@dataclass(frozen=True)
class DeliveryStatus:
    """What the heartbeat receives each tick (for the status board and the dashboard)."""

    now: float  # time.monotonic()
    sinks: tuple[SinkStatus, ...]
    outbox: OutboxStats

    def summary(self) -> str:
        """One line for the status line or the dashboard, e.g.
        `events: mqtt 0 pending; webhook 12 pending, failing 31s; outbox 12 held, 0 dropped`."""
        parts = []
        for sink in self.sinks:
            text = f"{sink.name} {sink.pending} pending"
            if sink.failing_since is not None:
                text += f", failing {self.now - sink.failing_since:.0f}s"
            if sink.lost:
                text += f", {sink.lost} lost"
            parts.append(text)
        outbox = self.outbox
        held = f"outbox {outbox.events} held, {outbox.dropped} dropped"
        if outbox.refused:
            held += f", {outbox.refused} refused"
        return "events: " + "; ".join([*parts, held])


def build_sink(config: SinkConfig, site: str, directory: Path, environ: Mapping[str, str]) -> Sink:
    """The sink a config describes. Raises MissingSecret for an unset ${NAME}."""
    if isinstance(config, FileSinkConfig):
        return JsonlFileSink(config, directory)
    if isinstance(config, MqttSinkConfig):
        return MqttSink(config, site, environ)
    if isinstance(config, WebhookSinkConfig):
        return WebhookSink(config, environ)
    raise TypeError(f"no sink for {type(config).__name__}")


class SinkWorker:
    """One sink's delivery thread."""

    def __init__(
        self, sink: Sink, config: SinkConfig, events: EventsConfig, outbox_path: Path
    ) -> None:
        self.sink = sink
        self.config = config
        self.events = events
        self.outbox_path = outbox_path
        self.abort = threading.Event()  # stop now (backoff waits and MQTT waits end)
        self.drain_until: float | None = None  # set at stop: finish when caught up or then
        self.delivered = 0
        self.lost = 0
        self.failing_since: float | None = None
        self.last_error: str | None = None
        self.crashed: BaseException | None = None
        self._last_failure_line = 0.0
        self._thread = threading.Thread(target=self._run, name=f"events-{sink.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            outbox = Outbox(self.outbox_path, self.events.outbox)
        except BaseException as error:
            self.crashed = error
            logger.exception("Events: sink %s cannot open the outbox", self.sink.name)
            return
        try:
            self.sink.open()
            self._deliver(outbox)
        except BaseException as error:
            self.crashed = error
            logger.exception("Events: sink %s stopped by an unexpected error", self.sink.name)
        finally:
            try:
                self.sink.close(CLOSE_TIMEOUT)
            except Exception:
                logger.exception("Events: sink %s did not close cleanly", self.sink.name)
            outbox.close()

    def _deliver(self, outbox: Outbox) -> None:
        cursor = outbox.cursor(self.sink.name)
        retry = Backoff(self.config.retry_initial, self.config.retry_max)
        while not self.abort.is_set():
            if self.drain_until is not None and time.monotonic() >= self.drain_until:
                return
            try:
                batch = outbox.read_after(cursor, self.config.batch)
            except Exception as error:  # sqlite3 errors: retried like a failing sink
                self._failed(f"cannot read the outbox: {error}")
                self.abort.wait(retry.failure())
                continue
            if not batch:
                if self.drain_until is not None:
                    return  # caught up
                self.abort.wait(self.events.poll_interval)
                continue
            if batch[0].seq > cursor + 1:
                gap = batch[0].seq - cursor - 1
                self.lost += gap
                logger.warning(
                    "Events: sink %s lost %d events dropped from the full outbox before it "
                    "received them (outbox.when_full: drop_oldest)",
                    self.sink.name,
                    gap,
                )
            result = self.sink.send(batch, self.abort)
            if result.delivered:
                cursor = batch[result.delivered - 1].seq
                try:
                    outbox.set_cursor(self.sink.name, cursor)
                except OutboxError as error:
                    # Delivered but not recorded: sent again later (at least once).
                    self._failed(str(error))
                    self.abort.wait(retry.failure())
                    continue
                self.delivered += result.delivered
            if result.error is not None:
                self._failed(result.error)
                self.abort.wait(result.retry_after)
            elif self.failing_since is not None:
                logger.info(
                    "Events: sink %s delivering again after %.1fs of failures",
                    self.sink.name,
                    time.monotonic() - self.failing_since,
                )
                self.failing_since, self.last_error = None, None
                retry.success()

    def _failed(self, error: str) -> None:
        now = time.monotonic()
        first = self.failing_since is None
        if (
            first
            or error != self.last_error
            or now - self._last_failure_line > STILL_FAILING_INTERVAL
        ):
            level = logging.WARNING if first or error != self.last_error else logging.INFO
            if first:
                self.failing_since = now
            logger.log(
                level,
                "Events: sink %s (%s) %s: %s",
                self.sink.name,
                self.sink.describe(),
                "failing" if first else "still failing",
                error,
            )
            self._last_failure_line = now
        self.last_error = error


def _status(workers: list[SinkWorker], outbox: Outbox) -> DeliveryStatus:
    sinks = tuple(
        SinkStatus(
            name=worker.sink.name,
            destination=worker.sink.describe(),
            delivered=worker.delivered,
            pending=outbox.pending(worker.sink.name),
            lost=worker.lost,
            failing_since=worker.failing_since,
            last_error=worker.last_error,
        )
        for worker in workers
    )
    return DeliveryStatus(time.monotonic(), sinks, outbox.stats())


def run_delivery(
    config: EventsConfig,
    outbox_path: Path,
    site: str,
    stop: StopSignal,
    heartbeat: Callable[[DeliveryStatus], None] | None = None,
    environ: Mapping[str, str] | None = None,
    directory: Path | None = None,
) -> dict[str, int]:
    """Deliver until `stop.requested`, then drain for up to `config.shutdown_timeout`.

    `directory`: where relative file-sink paths resolve (default: the outbox's folder).
    `environ`: where ${NAME} secrets come from (default os.environ). Returns the events
    still pending per sink. Raises MissingSecret before anything starts, OutboxError when
    the outbox cannot be opened, DeliveryCrashed after a sink thread died of a bug.
    """
    environment = os.environ if environ is None else environ
    folder = directory if directory is not None else outbox_path.parent
    sinks = [(build_sink(sink, site, folder, environment), sink) for sink in config.sinks]
    outbox = Outbox(outbox_path, config.outbox)
    try:
        for name in outbox.forget_cursors(sink.name for sink, _ in sinks):
            logger.info("Events: sink %s is no longer configured; its cursor is removed", name)
        workers = [
            SinkWorker(sink, sink_config, config, outbox_path) for sink, sink_config in sinks
        ]
        for worker in workers:
            outbox.cursor(worker.sink.name)  # created here, so pruning never skips a new sink
        stats = outbox.stats()
        logger.info(
            "Events: delivering %s from %s (%d events held)",
            ", ".join(f"{worker.sink.name} -> {worker.sink.describe()}" for worker in workers),
            outbox_path,
            stats.events,
        )
        for worker in workers:
            worker.start()
        crashed = _loop(workers, outbox, stop, heartbeat)
        pending = _drain(workers, outbox, config.shutdown_timeout, heartbeat)
        outbox.prune(worker.sink.name for worker in workers)
    finally:
        outbox.close()
    if crashed:
        raise DeliveryCrashed(f"sink thread {', '.join(crashed)} died; see the log above")
    return pending


def _loop(
    workers: list[SinkWorker],
    outbox: Outbox,
    stop: StopSignal,
    heartbeat: Callable[[DeliveryStatus], None] | None,
) -> list[str]:
    """Until stop (or a worker died): heartbeat and prune. Returns the dead workers' names."""
    last_prune = time.monotonic()
    while not stop.requested:
        now = time.monotonic()
        if heartbeat is not None:
            heartbeat(_status(workers, outbox))
        dead = [worker.sink.name for worker in workers if not worker.alive]
        if dead:
            return dead
        if now - last_prune >= PRUNE_INTERVAL:
            try:
                outbox.prune(worker.sink.name for worker in workers)
            except OutboxError as error:
                logger.warning("Events: pruning delivered events failed (retried): %s", error)
            last_prune = now
        time.sleep(TICK)
    return []


def _drain(
    workers: list[SinkWorker],
    outbox: Outbox,
    timeout: float,
    heartbeat: Callable[[DeliveryStatus], None] | None,
) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.drain_until = deadline
    while any(worker.alive for worker in workers) and time.monotonic() < deadline:
        if heartbeat is not None:
            heartbeat(_status(workers, outbox))
        time.sleep(min(TICK, max(0.0, deadline - time.monotonic())))
    for worker in workers:
        worker.abort.set()
    for worker in workers:
        worker.join(CLOSE_TIMEOUT + 1.0)
        if worker.alive:
            logger.error("Events: sink %s did not stop in time", worker.sink.name)
    pending = {worker.sink.name: outbox.pending(worker.sink.name) for worker in workers}
    if any(pending.values()):
        logger.warning(
            "Events: stopped with events pending (delivered at the next start): %s",
            ", ".join(f"{name} {count}" for name, count in pending.items()),
        )
    else:
        logger.info("Events: stopped; every sink has every event")
    return pending
