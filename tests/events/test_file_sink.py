"""Rotating JSONL sink: rotation by size, a partial line cut after a kill, end to end."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from pipeline.config.events import EventsConfig, FileSinkConfig
from pipeline.events.file_sink import JsonlFileSink
from pipeline.events.outbox import Outbox, StoredEvent
from pipeline.events.schema import EventType, decode_event
from tests.events.conftest import DeliveryThread, sample_event, wait_for


def _stored(count: int, start: int = 0) -> list[StoredEvent]:
    return [
        StoredEvent(start + i + 1, e.id, e.camera, EventType(e.type), e.to_json())
        for i, e in enumerate(sample_event(start + i) for i in range(count))
    ]


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rotation_by_size_keeps_the_newest_backups_in_order(tmp_path: Path) -> None:
    events = _stored(60)
    line = len(events[0].body) + 1
    config = FileSinkConfig(path=Path("events.jsonl"), max_bytes=max(4096, line * 10), backups=2)
    sink = JsonlFileSink(config, tmp_path)
    sink.open()
    for start in range(0, 60, 7):
        assert sink.send(events[start : start + 7], threading.Event()).delivered == len(
            events[start : start + 7]
        )
    sink.close(1.0)
    files = sorted(tmp_path.iterdir())
    names = [f.name for f in files]
    assert names == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    for file in files:
        assert file.stat().st_size <= config.max_bytes
        assert file.read_bytes().endswith(b"\n")
    # Oldest first: .2, .1, then the live file; together the newest events, in order.
    chained = [*_lines(files[2]), *_lines(files[1]), *_lines(files[0])]
    ids = [str(item["id"]) for item in chained]
    assert ids == [e.id for e in events[-len(ids) :]]
    assert sink.rotations >= 3  # some lines were rotated away (backups: 2)
    assert len(ids) < 60


def test_backups_zero_truncates_at_rotation(tmp_path: Path) -> None:
    events = _stored(40)
    config = FileSinkConfig(max_bytes=4096, backups=0)
    sink = JsonlFileSink(config, tmp_path)
    sink.open()
    sink.send(events, threading.Event())
    sink.close(1.0)
    assert [f.name for f in tmp_path.iterdir()] == ["events.jsonl"]
    ids = [str(item["id"]) for item in _lines(tmp_path / "events.jsonl")]
    assert ids == [e.id for e in events[-len(ids) :]]


def test_a_partial_last_line_from_a_killed_writer_is_cut_at_open(tmp_path: Path) -> None:
    events = _stored(3)
    path = tmp_path / "events.jsonl"
    whole = "".join(e.body + "\n" for e in events[:2])
    path.write_text(whole + events[2].body[:25])  # cut mid-line, as by a SIGKILL
    sink = JsonlFileSink(FileSinkConfig(), tmp_path)
    sink.open()
    assert sink.send(events[2:], threading.Event()).delivered == 1
    sink.close(1.0)
    assert [decode_event(line).id for line in path.read_text().splitlines()] == [
        e.id for e in events
    ]


def test_an_unwritable_file_is_a_retried_failure_not_a_crash(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    sink = JsonlFileSink(FileSinkConfig(retry_initial=0.5), folder)
    sink.open()
    (folder / "events.jsonl").unlink()
    folder.rmdir()
    folder.write_text("a file where the folder was")  # reopening now fails
    sink._discard_file()
    result = sink.send(_stored(1), threading.Event())
    assert result.delivered == 0 and result.error and "events.jsonl" in result.error
    assert 0.4 < result.retry_after < 0.6


def test_delivery_writes_every_event_once_in_order(
    tmp_path: Path, deliveries: Callable[..., DeliveryThread]
) -> None:
    config = EventsConfig.model_validate(
        {"poll_interval": 0.02, "sinks": [{"kind": "file", "path": "out/events.jsonl"}]}
    )
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, config.outbox)
    delivery = deliveries(config, path)
    produced = []
    for index in range(50):
        event = sample_event(index, camera=f"CAM{index % 3}")
        outbox.append(event)
        produced.append(event.id)
    out = tmp_path / "out" / "events.jsonl"
    wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == 50, 10, "50 lines")
    assert delivery.finish() == {"file": 0}
    assert [item["id"] for item in _lines(out)] == produced
    # Delivered events are pruned once every sink has them.
    assert outbox.stats().events == 0
    outbox.close()
