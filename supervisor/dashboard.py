"""What the operator sees: a rich live view on a terminal, a compact status line otherwise.

Both read only the status board (the supervisor writes each row's process state into it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from types import TracebackType

import numpy as np
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from pipeline.config import SiteConfig
from pipeline.shm.board import StatusBoard
from pipeline.shm.states import ProcessState, StreamState

STATE_STYLE = {
    ProcessState.RUNNING: "green",
    ProcessState.STARTING: "cyan",
    ProcessState.BACKOFF: "yellow",
    ProcessState.STOPPING: "magenta",
    ProcessState.STOPPED: "dim",
    ProcessState.FATAL: "bold red",
}
LIVE = (ProcessState.STARTING, ProcessState.RUNNING)


def state_name(row: np.void, camera: bool) -> str:
    """The process state, or for a running camera the state of its stream."""
    state = ProcessState(int(row["proc_state"]))
    if camera and state is ProcessState.RUNNING:
        return StreamState(int(row["stream_state"])).name
    return state.name


def _styled_state(row: np.void, camera: bool) -> str:
    style = STATE_STYLE[ProcessState(int(row["proc_state"]))]
    return f"[{style}]{state_name(row, camera)}[/]"


def _heartbeat_age(row: np.void, now: float) -> str:
    if ProcessState(int(row["proc_state"])) not in LIVE:
        return "-"
    return f"{max(0.0, now - float(row['heartbeat'])):.1f}s"


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


def _dropped(row: np.void) -> int:
    """Frames the pipeline let go: too many in flight, or superseded by a newer one."""
    return int(row["dropped_source"]) + int(row["dropped_stale"])


def _lost(row: np.void) -> int:
    """Frames the camera lost before the pipeline saw them: rejected by the decoder
    (corrupt bitstream) or missing from the stream's timestamps."""
    return int(row["decode_errors"]) + int(row["skipped_frames"])


def render(config: SiteConfig, snapshot: np.ndarray, tags: Sequence[str], now: float) -> Group:
    """Row 0 of the snapshot is inference, rows 1.. the cameras named by tags[1:], then one
    row per model of `config`."""
    cameras = Table(
        title=f"vigia · {config.site} · {len(tags) - 1} cameras",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
    )
    # Short headers: the view must fit an 80-column terminal.
    for column in (
        "camera",
        "state",
        "fps in/tgt",
        "done",
        "latency",
        "det",
        "drop",
        "lost",
        "rst",
        "beat",
    ):
        cameras.add_column(
            column, justify="left" if column in ("camera", "state") else "right", no_wrap=True
        )
    for index in range(1, len(tags)):
        row = snapshot[index]
        cameras.add_row(
            tags[index],
            _styled_state(row, camera=True),
            f"{row['fps_in']:.1f}/{row['fps_target']:.0f}",
            f"{row['fps_done']:.1f}",
            f"{row['latency_ms']:.0f} ms",
            str(int(row["detections_last"])),
            count(_dropped(row)),
            count(_lost(row)),
            count(int(row["restarts"])),
            _heartbeat_age(row, now),
        )
    inference = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in (
        "process",
        "state",
        "backend",
        "batch",
        "img/s",
        "ms",
        "torn",
        "rst",
        "beat",
    ):
        left = column in ("process", "state", "backend")
        inference.add_column(column, justify="left" if left else "right", no_wrap=True)
    row = snapshot[0]
    inference.add_row(
        tags[0],
        _styled_state(row, camera=False),
        bytes(row["backend"]).decode(errors="replace") or "-",
        f"{row['batch_mean']:.1f}/{config.inference.max_batch}",
        f"{row['images_per_s']:.1f}",
        f"{row['infer_ms']:.0f}",
        str(int(row["torn_reads"])),
        str(int(row["restarts"])),
        _heartbeat_age(row, now),
    )
    live = ProcessState(int(row["proc_state"])) in LIVE
    for index, model in enumerate(config.detectors):
        model_row = snapshot[len(tags) + index]
        inference.add_row(
            f" {model.display_name}",
            "model",
            bytes(model_row["backend"]).decode(errors="replace") or "-",
            "",
            f"{model_row['images_per_s']:.1f}" if live else "-",
            f"{model_row['infer_ms']:.0f}" if live else "-",
            "",
            "",
            "",
        )
    return Group(cameras, inference)


def status_line(config: SiteConfig, snapshot: np.ndarray, tags: Sequence[str]) -> str:
    """One compact line: inference throughput and each model's latency per batch, then per
    camera state, fps, detections, drops, losses and restarts."""
    row = snapshot[0]
    models = ", ".join(
        f"{model.display_name} {snapshot[len(tags) + index]['infer_ms']:.0f} ms"
        for index, model in enumerate(config.detectors)
    )
    parts = [
        f"{tags[0]} {state_name(row, False)} {row['images_per_s']:.1f} img/s batch "
        f"{row['batch_mean']:.1f} ({models})"
    ]
    for index in range(1, len(tags)):
        row = snapshot[index]
        parts.append(
            f"{tags[index]} {state_name(row, True)} {row['fps_done']:.1f}/{row['fps_target']:.0f}fps "
            f"det {int(row['detections_last'])} drop {_dropped(row)} lost {_lost(row)} "
            f"rst {int(row['restarts'])}"
        )
    return " | ".join(parts)


class StatusView:
    """Context manager; the supervisor loop calls refresh(now) every tick."""

    def __init__(
        self, config: SiteConfig, board: StatusBoard, tags: Sequence[str], live: bool
    ) -> None:
        self._config = config
        self._board = board
        self._tags = list(tags)
        self._live: Live | None = None
        self._use_live = live and sys.stdout.isatty()
        if self._use_live:
            self._period = 1.0 / config.dashboard.refresh_hz
        else:
            self._period = config.dashboard.status_line_interval
        self._next_at = 0.0

    def __enter__(self) -> StatusView:
        if self._use_live:
            self._live = Live(console=Console(), auto_refresh=False)
            self._live.__enter__()
            self._next_at = 0.0
        else:
            self._next_at = time.monotonic() + self._period
        return self

    def refresh(self, now: float) -> None:
        if now < self._next_at:
            return
        self._next_at = now + self._period
        snapshot = self._board.snapshot()
        if self._live is not None:
            self._live.update(render(self._config, snapshot, self._tags, now), refresh=True)
        else:
            print(
                time.strftime("%H:%M:%S"),
                status_line(self._config, snapshot, self._tags),
                flush=True,
            )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            snapshot = self._board.snapshot()
            self._live.update(
                render(self._config, snapshot, self._tags, time.monotonic()), refresh=True
            )
            self._live.__exit__(kind, error, trace)
