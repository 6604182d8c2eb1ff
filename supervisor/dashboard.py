"""What the operator sees: a rich live view on a terminal, a compact status line otherwise.

Both read only the status board (the supervisor writes each row's process state into it).
A row whose process is not there (BACKOFF, FATAL, OFFLINE, STOPPED) shows its state and `-`
for its rates, never its last figures as if it were alive. Drawing happens in the terminal
thread (supervisor/terminal.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType

import numpy as np
from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from pipeline.config import SiteConfig
from pipeline.shm.board import StatusBoard
from pipeline.shm.states import ProcessState, StreamState
from supervisor.terminal import Frame, Terminal

STATE_STYLE = {
    ProcessState.RUNNING: "green",
    ProcessState.STARTING: "cyan",
    ProcessState.BACKOFF: "yellow",
    ProcessState.STOPPING: "magenta",
    ProcessState.STOPPED: "dim",
    ProcessState.FATAL: "bold red",
    ProcessState.OFFLINE: "red",
}
# Processes whose rates mean something now; other rows show `-` (their last figures are stale).
LIVE = (ProcessState.STARTING, ProcessState.RUNNING, ProcessState.STOPPING)
STREAM_STYLE = {
    StreamState.STREAMING: "green",
    StreamState.AUTH_FAILED: "bold red",
    StreamState.STALLED: "yellow",
    StreamState.RECONNECTING: "yellow",
    StreamState.OFFLINE: "red",
}
DEAD = "-"


def state_name(row: np.void, camera: bool) -> str:
    """The process state, or for a running camera the state of its stream."""
    state = ProcessState(int(row["proc_state"]))
    if camera and state is ProcessState.RUNNING:
        return StreamState(int(row["stream_state"])).name
    return state.name


def _styled_state(row: np.void, camera: bool) -> str:
    state = ProcessState(int(row["proc_state"]))
    style = STATE_STYLE[state]
    if camera and state is ProcessState.RUNNING:
        style = STREAM_STYLE.get(StreamState(int(row["stream_state"])), style)
    return f"[{style}]{state_name(row, camera)}[/]"


def is_live(row: np.void) -> bool:
    """The row's process is there: its rates are current."""
    return ProcessState(int(row["proc_state"])) in LIVE


def _heartbeat_age(row: np.void, now: float) -> str:
    if not is_live(row):
        return DEAD
    return f"{max(0.0, now - float(row['heartbeat'])):.1f}s"


def _live_or_dash(row: np.void, text: str) -> str:
    return text if is_live(row) else DEAD


def count(value: int) -> str:
    """A counter in at most 5 characters: 9999, 12.3k, 999k, 1.2M, 12M."""
    if value < 10_000:
        return str(value)
    for divisor, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "G")):
        scaled = value / divisor
        if scaled < 99.95:
            return f"{scaled:.1f}{suffix}"
        if scaled < 999.5:
            return f"{scaled:.0f}{suffix}"
    return f"{value / 1e9:.0f}G"


def _delivery(row: np.void, styled: bool) -> str:
    """The delivery process's outbox, e.g. `12 held, 9 pending, 3 dropped, 1 sink failing`:
    what it holds is known even while the process is down (the outbox keeps it), so it is
    shown as last written. Red when events were lost or a sink fails."""
    failing = int(row["sinks_failing"])
    text = (
        f"{count(int(row['events_held']))} held, {count(int(row['events_pending']))} pending, "
        f"{count(int(row['events_dropped']))} dropped"
    )
    if failing:
        text += f", {failing} sink{'s' if failing > 1 else ''} failing"
    if styled and (failing or int(row["events_dropped"])):
        return f"[red]{text}[/]"
    return text


def _text(row: np.void, field: str) -> str:
    return bytes(row[field]).decode(errors="replace")


def _backend_choices(
    config: SiteConfig, snapshot: np.ndarray, tags: Sequence[str]
) -> list[tuple[str, str, str]]:
    """(model, backend, why) of every model whose backend `auto` chose, as its row says,
    e.g. ("ppe", "auto ort cpu", "engine stale: ONNX changed")."""
    choices = []
    for index, model in enumerate(config.detectors):
        row = snapshot[len(tags) + index]
        why = _text(row, "backend_reason")
        if why:
            choices.append((model.display_name, _text(row, "backend"), why))
    return choices


def _dropped(row: np.void) -> int:
    """Frames the pipeline let go: too many in flight, or superseded by a newer one."""
    return int(row["dropped_source"]) + int(row["dropped_stale"])


def _lost(row: np.void) -> int:
    """Frames the camera lost before the pipeline saw them: rejected by the decoder
    (corrupt bitstream) or missing from the stream's timestamps."""
    return int(row["decode_errors"]) + int(row["skipped_frames"])


def _camera_cells(tag: str, row: np.void, now: float) -> list[str]:
    live = is_live(row)
    rates = (
        [
            f"{row['fps_in']:.1f}/{row['fps_target']:.0f}",
            f"{row['fps_done']:.1f}",
            f"{row['latency_ms']:.0f}ms",
            str(int(row["detections_last"])),
            str(int(row["persons"])),
            str(int(row["violations_open"])),
        ]
        if live
        else [DEAD] * 6
    )
    counters = [count(_dropped(row)), count(_lost(row)), count(int(row["restarts"]))]
    return [tag, _styled_state(row, camera=True), *rates, *counters, _heartbeat_age(row, now)]


# Short headers: the view must fit an 80-column terminal. in/tgt: frames per second decoded
# and the target; done: frames per second answered; lat: capture to answer.
CAMERA_COLUMNS = (
    "camera",
    "state",
    "in/tgt",
    "done",
    "lat",
    "det",
    "ppl",
    "viol",
    "drop",
    "lost",
    "rst",
    "beat",
)
PROCESS_COLUMNS = ("process", "state", "backend", "batch", "img/s", "ms", "torn", "rst", "beat")


def render(
    config: SiteConfig,
    snapshot: np.ndarray,
    tags: Sequence[str],
    now: float,
    services: Sequence[tuple[str, int]] = (),
) -> Group:
    """Row 0 of the snapshot is inference, rows 1.. the cameras named by tags[1:], then one
    row per model of `config`; `services` are other children as (tag, board row).
    `now` is time.monotonic() seconds (heartbeat ages)."""
    cameras = Table(
        title=f"vigia · {config.site} · {len(tags) - 1} cameras",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=0,  # the box's own space separates the columns
    )
    for column in CAMERA_COLUMNS:
        cameras.add_column(
            column, justify="left" if column in ("camera", "state") else "right", no_wrap=True
        )
    for index in range(1, len(tags)):
        cameras.add_row(*_camera_cells(tags[index], snapshot[index], now))
    inference = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in PROCESS_COLUMNS:
        left = column in ("process", "state", "backend")
        inference.add_column(column, justify="left" if left else "right", no_wrap=True)
    row = snapshot[0]
    inference.add_row(
        tags[0],
        _styled_state(row, camera=False),
        _text(row, "backend") or DEAD,
        _live_or_dash(row, f"{row['batch_mean']:.1f}/{config.inference.max_batch}"),
        _live_or_dash(row, f"{row['images_per_s']:.1f}"),
        _live_or_dash(row, f"{row['infer_ms']:.0f}"),
        str(int(row["torn_reads"])),
        str(int(row["restarts"])),
        _heartbeat_age(row, now),
    )
    live = is_live(row)
    for index, model in enumerate(config.detectors):
        model_row = snapshot[len(tags) + index]
        inference.add_row(
            f" {model.display_name}",
            "model",
            _text(model_row, "backend") or DEAD,
            "",
            f"{model_row['images_per_s']:.1f}" if live else DEAD,
            f"{model_row['infer_ms']:.0f}" if live else DEAD,
            "",
            "",
            "",
        )
    for tag, index in services:
        row = snapshot[index]
        inference.add_row(
            tag,
            _styled_state(row, camera=False),
            "",
            "",
            "",
            "",
            "",
            str(int(row["restarts"])),
            _heartbeat_age(row, now),
        )
    # Why auto chose each backend: below the table, whose backend column has no room for it.
    lines = [
        escape(f" {model}: {backend} ({why})")
        for model, backend, why in _backend_choices(config, snapshot, tags)
    ]
    lines += [
        f" {tag} outbox: {_delivery(snapshot[index], styled=True)}" for tag, index in services
    ]
    return Group(cameras, inference, *lines)


def status_line(
    config: SiteConfig,
    snapshot: np.ndarray,
    tags: Sequence[str],
    services: Sequence[tuple[str, int]] = (),
) -> str:
    """One compact line: inference throughput and each model's latency per batch (and the
    backend `auto` chose, with why), then per camera state, fps, detections, persons, open
    violations, drops, losses and restarts. Rates of a process that is not running are `-`."""
    row = snapshot[0]
    live = is_live(row)
    chosen = {
        model: f" on {backend} ({why})"
        for model, backend, why in _backend_choices(config, snapshot, tags)
    }
    models = ", ".join(
        f"{model.display_name} "
        + (f"{snapshot[len(tags) + index]['infer_ms']:.0f} ms" if live else DEAD)
        + chosen.get(model.display_name, "")
        for index, model in enumerate(config.detectors)
    )
    rate = f"{row['images_per_s']:.1f} img/s batch {row['batch_mean']:.1f}" if live else DEAD
    parts = [f"{tags[0]} {state_name(row, False)} {rate} ({models})"]
    for index in range(1, len(tags)):
        row = snapshot[index]
        if is_live(row):
            rates = (
                f"{row['fps_done']:.1f}/{row['fps_target']:.0f}fps "
                f"det {int(row['detections_last'])} ppl {int(row['persons'])} "
                f"viol {int(row['violations_open'])}"
            )
        else:
            rates = DEAD
        parts.append(
            f"{tags[index]} {state_name(row, True)} {rates} drop {_dropped(row)} "
            f"lost {_lost(row)} rst {int(row['restarts'])}"
        )
    parts.extend(
        f"{tag} {state_name(snapshot[index], False)} {_delivery(snapshot[index], styled=False)} "
        f"rst {int(snapshot[index]['restarts'])}"
        for tag, index in services
    )
    return " | ".join(parts)


class StatusView:
    """The operator's view of the board: the live dashboard on a terminal, else a status line
    every `dashboard.status_line_interval` seconds. The supervisor loop calls refresh(now)
    every tick; it takes a snapshot of the board when one is due and hands it to the terminal
    thread, so that a terminal that stops reading never stalls the loop."""

    def __init__(
        self,
        config: SiteConfig,
        board: StatusBoard,
        tags: Sequence[str],
        terminal: Terminal,
        live: bool,
        services: Sequence[tuple[str, int]] = (),
    ) -> None:
        self._config = config
        self._board = board
        self._tags = list(tags)
        self._services = list(services)
        self._terminal = terminal
        self._live = live and terminal.is_terminal
        if self._live:
            self._period = 1.0 / config.dashboard.refresh_hz
        else:
            self._period = config.dashboard.status_line_interval
        self._next_at = 0.0

    def _frame(self, snapshot: np.ndarray, now: float) -> Frame:
        config, tags, services = self._config, self._tags, self._services
        return lambda: render(config, snapshot, tags, now, services)

    def __enter__(self) -> StatusView:
        if self._live:
            self._terminal.begin_live()
            self._next_at = 0.0
        else:
            self._next_at = time.monotonic() + self._period
        return self

    def refresh(self, now: float) -> None:
        if now < self._next_at:
            return
        self._next_at = now + self._period
        snapshot = self._board.snapshot()
        if self._live:
            self._terminal.show(self._frame(snapshot, now))
        else:
            line = status_line(self._config, snapshot, self._tags, self._services)
            self._terminal.status_line(f"{time.strftime('%H:%M:%S')} {line}")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live:
            self._terminal.end_live(self._frame(self._board.snapshot(), time.monotonic()))
