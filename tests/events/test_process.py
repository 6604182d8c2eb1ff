"""The delivery process, SIGKILLed mid-run and started again: what was pending is delivered."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from pipeline.config.events import EventsConfig
from pipeline.events.outbox import Outbox
from pipeline.events.process import DeliveryTask, delivery_main
from pipeline.lifecycle import ExitCode
from pipeline.shm.board import StatusBoard
from pipeline.shm.segments import SegmentNames, run_prefix
from tests.events.conftest import (
    SITE,
    Mosquitto,
    Subscriber,
    WebhookServer,
    first_copies,
    sample_event,
    wait_for,
)

STATUS = f"vigia/{SITE}/status"


class Child:
    """The delivery process as the supervisor runs it: spawned, logging through a pipe."""

    def __init__(self, task: DeliveryTask) -> None:
        context = multiprocessing.get_context("spawn")
        reader, writer = context.Pipe(duplex=False)
        self.log: list[str] = []
        self.process: BaseProcess = context.Process(target=delivery_main, args=(task, writer))
        self.process.start()
        writer.close()
        threading.Thread(target=self._read, args=(reader,), daemon=True).start()

    def _read(self, reader: Connection) -> None:
        try:
            while True:
                _, _, level, message = reader.recv()
                self.log.append(f"{level} {message}")
        except (EOFError, OSError):
            pass

    def signal(self, signum: int) -> int | None:
        assert self.process.pid is not None
        os.kill(self.process.pid, signum)
        self.process.join(20)
        return self.process.exitcode


def test_sigkill_of_the_delivery_process_then_restart_delivers_the_rest(
    tmp_path: Path,
    webhook_server: WebhookServer,
    mosquitto: Mosquitto,
    subscribers: Callable[..., Subscriber],
) -> None:
    webhook_server.delay = 0.04  # slow enough that the kill lands mid-run
    config = EventsConfig.model_validate(
        {
            "poll_interval": 0.02,
            "shutdown_timeout": 5,
            "sinks": [
                {
                    "kind": "webhook",
                    "url": webhook_server.url(),
                    "allowed_networks": ["127.0.0.1/32"],
                    "batch": 5,
                },
                {"kind": "mqtt", "host": "127.0.0.1", "port": mosquitto.port},
                {"kind": "file", "path": "events.jsonl"},
            ],
        }
    )
    path = tmp_path / "events" / "outbox.sqlite3"
    task = DeliveryTask(SITE, config, path, path.parent)
    subscriber = subscribers(mosquitto.port, f"vigia/{SITE}/#")
    with Outbox(path, config.outbox) as outbox:
        produced = []
        for index in range(60):
            event = sample_event(index, camera=f"CAM{index % 4}")
            outbox.append(event)
            produced.append(event.id)
        first = Child(task)
        wait_for(lambda: len(webhook_server.accepted) >= 10, 20, "the first deliveries")
        wait_for(lambda: subscriber.payloads(STATUS)[-1:] == [(b"online", False)], 10, "online")
        assert first.signal(signal.SIGKILL) == -signal.SIGKILL
        killed_at = len(set(webhook_server.accepted_ids()))
        assert killed_at < 60, "the kill came after everything was delivered"
        # The broker saw the connection drop: the last will says offline, retained.
        wait_for(lambda: subscriber.payloads(STATUS)[-1:] == [(b"offline", False)], 10, "will")
        late = subscribers(mosquitto.port, STATUS)
        wait_for(lambda: late.payloads(STATUS) == [(b"offline", True)], 5, "retained will")
        assert outbox.pending("webhook") > 0

        second = Child(task)
        wait_for(
            lambda: (
                outbox.pending("webhook") + outbox.pending("mqtt") + outbox.pending("file") == 0
            ),
            30,
            "the second run to deliver the rest",
        )
        assert second.signal(signal.SIGTERM) == ExitCode.OK
    assert first_copies(webhook_server.accepted_ids()) == produced
    assert first_copies([item["id"] for item in subscriber.events()]) == produced
    lines = (path.parent / "events.jsonl").read_text().splitlines()
    assert first_copies([json.loads(line)["id"] for line in lines]) == produced
    assert any("every sink has every event" in line for line in second.log)
    assert subscriber.payloads(STATUS)[-1] == (b"offline", False)  # said on the clean stop


def test_a_stop_with_a_sink_down_says_what_is_pending_and_the_next_start_sends_it(
    tmp_path: Path, webhook_server: WebhookServer
) -> None:
    webhook_server.status = 503
    config = EventsConfig.model_validate(
        {
            "poll_interval": 0.02,
            "shutdown_timeout": 0.5,
            "sinks": [
                {
                    "kind": "webhook",
                    "url": webhook_server.url(),
                    "allowed_networks": ["127.0.0.1/32"],
                    "retry_initial": 0.05,
                    "retry_max": 0.1,
                }
            ],
        }
    )
    path = tmp_path / "outbox.sqlite3"
    board = StatusBoard.create(SegmentNames(run_prefix("delivery-test")).board(), 1)

    def shown() -> tuple[int, ...]:
        """What the dashboard shows: held, pending, dropped, sinks failing."""
        row = board.snapshot()[0]
        return tuple(
            int(row[key])
            for key in ("events_held", "events_pending", "events_dropped", "sinks_failing")
        )

    task = DeliveryTask(SITE, config, path, tmp_path, board.name, board_rows=1, board_row=0)
    with Outbox(path, config.outbox) as outbox:
        ids = []
        for index in range(7):
            event = sample_event(index)
            outbox.append(event)
            ids.append(event.id)
        child = Child(task)
        wait_for(lambda: len(webhook_server.received) >= 3, 10, "failed attempts")
        # The board: the outbox holds them all, the failing sink has them all pending.
        wait_for(lambda: shown() == (7, 7, 0, 1), 10, "the failing sink on the board")
        started = time.monotonic()
        assert child.signal(signal.SIGTERM) == ExitCode.OK
        assert time.monotonic() - started < 5  # shutdown_timeout bounds the drain
        assert any("pending (delivered at the next start): webhook 7" in line for line in child.log)
        assert any("answered 503" in line for line in child.log)
        webhook_server.status = 200
        again = Child(task)
        wait_for(lambda: outbox.pending("webhook") == 0, 10, "delivery after the restart")
        wait_for(lambda: shown()[1:] == (0, 0, 0), 10, "nothing pending on the board")
        assert again.signal(signal.SIGTERM) == ExitCode.OK
    assert webhook_server.accepted_ids() == ids
    board.close()
    board.unlink()


def test_an_unset_secret_exits_with_the_config_code(tmp_path: Path) -> None:
    os.environ.pop("VIGIA_TEST_UNSET_SECRET", None)
    config = EventsConfig.model_validate(
        {
            "sinks": [
                {
                    "kind": "webhook",
                    "url": "https://hooks.example.com/x",
                    "secret": "${VIGIA_TEST_UNSET_SECRET}",
                }
            ]
        }
    )
    child = Child(DeliveryTask(SITE, config, tmp_path / "o.db", tmp_path))
    child.process.join(30)
    assert child.process.exitcode == ExitCode.CONFIG
    wait_for(lambda: any("VIGIA_TEST_UNSET_SECRET" in line for line in child.log), 5, "the log")
