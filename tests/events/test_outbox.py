"""The outbox: order, per-sink cursors, bounds, and writers killed while appending."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from pipeline.config.events import OutboxConfig, WhenFull
from pipeline.events.outbox import SCHEMA_VERSION, AppendOutcome, Outbox, OutboxError
from tests.events.conftest import sample_event, wait_for
from tests.events.workers import append_events


def _append(outbox: Outbox, index: int) -> int:
    """Append event `index`; its seq."""
    seq = outbox.append(sample_event(index)).seq
    assert seq is not None
    return seq


def _track_ids(outbox: Outbox, after: int = 0) -> list[int]:
    return [json.loads(e.body)["payload"]["track_id"] for e in outbox.read_after(after, 10_000)]


def test_events_come_back_in_append_order_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, OutboxConfig()) as outbox:
        events = [sample_event(index) for index in range(20)]
        seqs = [outbox.append(event).seq or 0 for event in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 20
    with Outbox(path, OutboxConfig()) as outbox:
        stored = outbox.read_after(0, 100)
        assert [e.id for e in stored] == [e.id for e in events]
        assert [e.body for e in stored] == [e.to_json() for e in events]
        assert stored[0].camera == "CAM063" and stored[0].type.value == "violation.start"
        assert outbox.stats().events == 20


def test_each_sink_has_its_own_cursor_and_pruning_waits_for_the_slowest(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", OutboxConfig()) as outbox:
        seqs = [_append(outbox, index) for index in range(10)]
        assert outbox.cursor("fast") == 0 and outbox.cursor("slow") == 0
        outbox.set_cursor("fast", seqs[9])
        outbox.set_cursor("slow", seqs[3])
        assert outbox.pending("fast") == 0 and outbox.pending("slow") == 6
        assert outbox.prune(["fast", "slow"]) == 4
        assert _track_ids(outbox) == list(range(4, 10))
        assert outbox.stats().events == 6
        # A sink added now starts at the oldest event held, not at the beginning of time.
        assert outbox.cursor("new") == seqs[4] - 1
        assert outbox.forget_cursors(["fast", "slow"]) == ["new"]


def test_a_new_sink_on_an_empty_outbox_starts_after_the_last_event_ever_stored(
    tmp_path: Path,
) -> None:
    with Outbox(tmp_path / "o.db", OutboxConfig()) as outbox:
        last = [_append(outbox, index) for index in range(3)][-1]
        outbox.set_cursor("a", last)
        outbox.prune(["a"])
        assert outbox.cursor("b") == last
        nxt = _append(outbox, 3)
        assert nxt == last + 1  # AUTOINCREMENT: never a seq the cursors already passed


def test_an_id_already_held_is_not_stored_twice(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", OutboxConfig()) as outbox:
        event = sample_event(1)
        assert outbox.append(event).outcome is AppendOutcome.STORED
        assert outbox.append(event).outcome is AppendOutcome.DUPLICATE
        assert outbox.stats().events == 1


@pytest.mark.parametrize(
    ("policy", "kept", "dropped", "refused", "outcome"),
    [
        (WhenFull.DROP_OLDEST, list(range(5, 15)), 5, 0, AppendOutcome.STORED),
        (WhenFull.REFUSE_NEW, list(range(0, 10)), 0, 5, AppendOutcome.REFUSED),
    ],
)
def test_full_outbox_policy(
    tmp_path: Path,
    policy: WhenFull,
    kept: list[int],
    dropped: int,
    refused: int,
    outcome: AppendOutcome,
) -> None:
    with Outbox(tmp_path / "o.db", OutboxConfig(max_events=10, when_full=policy)) as outbox:
        results = [outbox.append(sample_event(index)) for index in range(15)]
        assert {r.outcome for r in results[:10]} == {AppendOutcome.STORED}
        assert {r.outcome for r in results[10:]} == {outcome}
        assert _track_ids(outbox) == kept
        stats = outbox.stats()
        assert (stats.events, stats.dropped, stats.refused) == (10, dropped, refused)
    # The counters are in the database: the dashboard sees them after a restart too.
    with Outbox(tmp_path / "o.db", OutboxConfig(max_events=10, when_full=policy)) as outbox:
        assert (outbox.stats().dropped, outbox.stats().refused) == (dropped, refused)


def test_the_byte_bound_drops_as_many_as_needed(tmp_path: Path) -> None:
    size = len(sample_event(0).to_json().encode())
    limit = 2**16
    fits = limit // size
    with Outbox(tmp_path / "o.db", OutboxConfig(max_bytes=limit)) as outbox:
        for index in range(fits + 7):
            outbox.append(sample_event(index))
        stats = outbox.stats()
        assert limit - 2 * size < stats.bytes <= limit  # within the bound, not far below it
        assert stats.events + stats.dropped == fits + 7 and stats.dropped >= 7
        assert _track_ids(outbox) == list(range(stats.dropped, fits + 7))


def test_an_outbox_of_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    Outbox(path, OutboxConfig()).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(OutboxError, match="schema version"):
        Outbox(path, OutboxConfig())


def test_a_file_that_is_not_an_outbox_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxError, match="cannot open"):
        Outbox(path, OutboxConfig())


def test_writers_in_many_processes_one_killed_mid_append(tmp_path: Path) -> None:
    """Three camera processes append at once; one is SIGKILLed while appending. Every event
    each one stored is whole, per camera in order, and the database is intact."""
    path = tmp_path / "o.db"
    limits = OutboxConfig()
    Outbox(path, limits).close()
    context = multiprocessing.get_context("spawn")
    steady = [
        context.Process(target=append_events, args=(path, limits, camera, 60, 0.0))
        for camera in ("CAM1", "CAM2")
    ]
    victim = context.Process(target=append_events, args=(path, limits, "CAM3", 100_000, 0.0))
    for process in [*steady, victim]:
        process.start()
    with Outbox(path, limits) as outbox:
        wait_for(
            lambda: sum(e.camera == "CAM3" for e in outbox.read_after(0, 100_000)) >= 30,
            30,
            "CAM3's appends",
        )
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(10)
        for process in steady:
            process.join(60)
            assert process.exitcode == 0
        # The lock the victim may have held died with it: appending still works.
        started = time.monotonic()
        assert outbox.append(sample_event(0, camera="CAM4")).outcome is AppendOutcome.STORED
        assert time.monotonic() - started < limits.busy_timeout
        stored = outbox.read_after(0, 1_000_000)
        by_camera: dict[str, list[int]] = {}
        for event in stored:
            by_camera.setdefault(event.camera or "", []).append(
                json.loads(event.body)["payload"]["track_id"]
            )
        assert by_camera["CAM1"] == list(range(60))
        assert by_camera["CAM2"] == list(range(60))
        assert by_camera["CAM3"] == list(range(len(by_camera["CAM3"])))
        assert outbox.stats().events == len(stored)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
