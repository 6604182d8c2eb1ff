"""The dashboard and the status line show what the status board holds."""

from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from pipeline.config.models import ModelConfig, SiteConfig
from pipeline.shm.board import StatusBoard
from pipeline.shm.segments import SegmentNames, run_prefix
from pipeline.shm.states import ProcessState, StreamState
from supervisor.dashboard import count, render, status_line

CONFIG = SiteConfig.model_validate(
    {
        "site": "yard",
        "model": ModelConfig(path=Path("m.onnx")),
        "cameras": [
            {"id": "CAM061", "source": {"kind": "synthetic"}},
            {"id": "CAM062", "source": {"kind": "synthetic"}},
        ],
    }
)
TAGS = ["INFERENCE", "CAM061", "CAM062"]


@pytest.fixture
def board():
    created = StatusBoard.create(SegmentNames(run_prefix("dash-test")).board(), 5)
    inference, first, second, model = (created.row(i) for i in range(4))
    model.update(backend="onnxruntime cpu", infer_ms=12.4, images_per_s=17.0)
    inference.update(
        proc_state=ProcessState.RUNNING,
        heartbeat=99.5,
        backend="onnxruntime",
        batch_mean=1.8,
        images_per_s=17.5,
        torn_reads=2,
    )
    first.update(
        proc_state=ProcessState.RUNNING,
        stream_state=StreamState.STREAMING,
        heartbeat=99.0,
        fps_in=9.9,
        fps_target=10,
        fps_done=9.8,
        latency_ms=42,
        detections_last=3,
        persons=2,
        violations_open=1,
        dropped_source=4,
        dropped_stale=1,
        decode_errors=6,
        skipped_frames=1,
    )
    # Dead since: its last figures must not show as if it were alive.
    second.update(
        proc_state=ProcessState.BACKOFF,
        restarts=2,
        fps_in=7.0,
        fps_done=7.0,
        latency_ms=88,
        detections_last=4,
        persons=3,
        dropped_source=3,
    )
    yield created
    del inference, first, second, model
    created.close()
    created.unlink()


def table_rows(table) -> list[dict[str, str]]:
    """The plain text of a rich Table's cells, row by row, keyed by column header."""
    columns = table.columns
    return [
        {
            str(column.header): Text.from_markup(str(column._cells[index])).plain
            for column in columns
        }
        for index in range(table.row_count)
    ]


def test_dashboard_shows_cameras_and_inference(board):
    cameras, inference = render(CONFIG, board.snapshot(), TAGS, now=100.0).renderables
    cam061, cam062 = table_rows(cameras)
    assert cam061 == {
        "camera": "CAM061",
        "state": "STREAMING",
        "in/tgt": "9.9/10",
        "done": "9.8",
        "lat": "42ms",
        "det": "3",
        "ppl": "2",
        "viol": "1",
        "drop": "5",  # 4 at the source + 1 stale
        "lost": "7",  # 6 decode errors + 1 skipped
        "rst": "0",
        "beat": "1.0s",
    }
    assert cam062 == {
        "camera": "CAM062",
        "state": "BACKOFF",
        **dict.fromkeys(("in/tgt", "done", "lat", "det", "ppl", "viol"), "-"),
        "drop": "3",  # counters stay: they say what happened
        "lost": "0",
        "rst": "2",
        "beat": "-",
    }
    row, model = table_rows(inference)
    assert model == {
        "process": " m",
        "state": "model",
        "backend": "onnxruntime cpu",
        "batch": "",
        "img/s": "17.0",
        "ms": "12",
        "torn": "",
        "rst": "",
        "beat": "",
    }
    assert row == {
        "process": "INFERENCE",
        "state": "RUNNING",
        "backend": "onnxruntime",
        "batch": "1.8/8",
        "img/s": "17.5",
        "ms": "0",
        "torn": "2",
        "rst": "0",
        "beat": "0.5s",
    }
    console = Console(record=True, width=200)
    console.print(render(CONFIG, board.snapshot(), TAGS, now=100.0))
    text = console.export_text()
    assert "CAM061" in text and "STREAMING" in text and "INFERENCE" in text


def test_status_line_is_compact(board):
    line = status_line(CONFIG, board.snapshot(), TAGS)
    assert line == (
        "INFERENCE RUNNING 17.5 img/s batch 1.8 (m 12 ms) | "
        "CAM061 STREAMING 9.8/10fps det 3 ppl 2 viol 1 drop 5 lost 7 rst 0 | "
        "CAM062 BACKOFF - drop 3 lost 0 rst 2"
    )


@pytest.mark.parametrize(
    ("state", "stream", "shown"),
    [
        (ProcessState.RUNNING, StreamState.AUTH_FAILED, "AUTH_FAILED"),
        (ProcessState.RUNNING, StreamState.STALLED, "STALLED"),
        (ProcessState.FATAL, StreamState.STREAMING, "FATAL"),
        (ProcessState.OFFLINE, StreamState.OFFLINE, "OFFLINE"),
        (ProcessState.STOPPED, StreamState.ENDED, "STOPPED"),
    ],
)
def test_camera_state_shown_is_the_process_state_unless_it_runs(board, state, stream, shown):
    row = board.row(2)
    row.update(proc_state=state, stream_state=stream)
    del row
    cameras, _ = render(CONFIG, board.snapshot(), TAGS, now=100.0).renderables
    assert table_rows(cameras)[1]["state"] == shown
    assert f"CAM062 {shown} " in status_line(CONFIG, board.snapshot(), TAGS)


def test_dead_inference_shows_dashes_for_its_rates_and_its_models(board):
    row = board.row(0)
    row.update(proc_state=ProcessState.FATAL)
    del row
    _, inference = render(CONFIG, board.snapshot(), TAGS, now=100.0).renderables
    process, model = table_rows(inference)
    assert (process["state"], process["batch"], process["img/s"], process["ms"]) == (
        "FATAL",
        "-",
        "-",
        "-",
    )
    assert (model["img/s"], model["ms"]) == ("-", "-")
    assert status_line(CONFIG, board.snapshot(), TAGS).startswith("INFERENCE FATAL - (m -) |")


def test_dashboard_fits_80_columns(board):
    """The worst case of every column at once still fits a plain 80-column terminal."""
    row = board.row(1)
    row.update(
        stream_state=StreamState.RECONNECTING,
        fps_in=30.0,
        fps_target=30,
        fps_done=29.9,
        latency_ms=1234,
        detections_last=120,
        persons=120,
        violations_open=99,
        dropped_source=999_999,
        decode_errors=99_999,
        restarts=99,
    )
    del row
    console = Console(record=True, width=80)
    console.print(render(CONFIG, board.snapshot(), TAGS, now=100.0))
    lines = console.export_text().splitlines()
    cam061 = next(line for line in lines if "CAM061" in line)
    assert max(len(line.rstrip()) for line in lines) <= 80
    for expected in ("RECONNECTING", "1234ms", " 120 ", " 99 ", "1.0M", "100k"):
        assert expected in cam061, (expected, cam061)


def test_the_delivery_outbox_shows_what_it_holds_drops_and_which_sinks_fail(board):
    row = board.row(4)
    row.update(proc_state=ProcessState.RUNNING, heartbeat=99.0, events_held=12, events_pending=9)
    services = [("EVENTS", 4)]
    *_, line = render(CONFIG, board.snapshot(), TAGS, now=100.0, services=services).renderables
    assert line == " EVENTS outbox: 12 held, 9 pending, 0 dropped"
    row.update(events_dropped=15_000, sinks_failing=2)
    del row
    group = render(CONFIG, board.snapshot(), TAGS, now=100.0, services=services)
    _, inference, line = group.renderables
    assert line == " EVENTS outbox: [red]12 held, 9 pending, 15.0k dropped, 2 sinks failing[/]"
    assert table_rows(inference)[-1]["process"] == "EVENTS"
    assert status_line(CONFIG, board.snapshot(), TAGS, services).endswith(
        "| EVENTS RUNNING 12 held, 9 pending, 15.0k dropped, 2 sinks failing rst 0"
    )
    console = Console(record=True, width=80)
    console.print(group)
    assert max(len(line.rstrip()) for line in console.export_text().splitlines()) <= 80


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (9999, "9999"),
        (10_000, "10.0k"),
        (123_456, "123k"),
        (999_999, "1.0M"),
        (1_250_000, "1.2M"),
        (99_960_000, "100M"),
        (3 * 10**9, "3.0G"),
    ],
)
def test_counters_take_at_most_five_characters(value, text):
    assert count(value) == text
    assert len(text) <= 5


def test_the_dashboard_and_status_line_say_why_auto_chose_the_backend(board):
    """`backend: auto` logged its choice and reason, but the dashboard showed only the name."""
    row = board.row(3)
    row.update(backend="auto ort cpu", backend_reason="engine stale: ONNX changed")
    del row
    _, inference, why = render(CONFIG, board.snapshot(), TAGS, now=100.0).renderables
    assert table_rows(inference)[1]["backend"] == "auto ort cpu"
    assert why == " m: auto ort cpu (engine stale: ONNX changed)"
    assert status_line(CONFIG, board.snapshot(), TAGS).startswith(
        "INFERENCE RUNNING 17.5 img/s batch 1.8 (m 12 ms on auto ort cpu (engine stale: ONNX "
        "changed)) | "
    )


def test_the_longest_reason_still_fits_80_columns(board):
    row = board.row(3)
    row.update(backend="auto trt fp16", backend_reason="x" * 100)  # cut at the field's size
    del row
    console = Console(record=True, width=80)
    console.print(render(CONFIG, board.snapshot(), TAGS, now=100.0))
    lines = console.export_text().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert any(line.startswith(" m: auto trt fp16 (xxx") for line in lines)
