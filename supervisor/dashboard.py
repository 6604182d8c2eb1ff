"""What the operator sees: a rich live table on a terminal, a compact status line otherwise.

Both read only the status board (plus the supervisor's own child states).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from types import TracebackType

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table

from pipeline.config import SiteConfig
from pipeline.shm.board import StatusBoard
from pipeline.shm.states import ProcessState, StreamState
from supervisor.children import Child

STATE_STYLE = {
    ProcessState.RUNNING: "green",
    ProcessState.STARTING: "cyan",
    ProcessState.BACKOFF: "yellow",
    ProcessState.STOPPING: "magenta",
    ProcessState.STOPPED: "dim",
    ProcessState.FATAL: "bold red",
}


def _state_text(row: np.void, child: Child) -> str:
    state = child.state
    if state is ProcessState.RUNNING and child.tag != "INFERENCE":
        return f"[{STATE_STYLE[state]}]{StreamState(int(row['stream_state'])).name}[/]"
    return f"[{STATE_STYLE[state]}]{state.name}[/]"


def _heartbeat_age(row: np.void, child: Child, now: float) -> str:
    if not child.alive:
        return "-"
    return f"{max(0.0, now - float(row['heartbeat'])):.1f}s"


def render_table(
    config: SiteConfig, snapshot: np.ndarray, children: Sequence[Child], now: float
) -> Table:
    table = Table(title=f"vigia · {config.site}", expand=False, title_justify="left")
    for column, justify in [
        ("camera", "left"),
        ("state", "left"),
        ("fps in/target", "right"),
        ("done fps", "right"),
        ("latency", "right"),
        ("det/frame", "right"),
        ("dropped", "right"),
        ("restarts", "right"),
        ("heartbeat", "right"),
    ]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for index, child in enumerate(children[1:], start=1):
        row = snapshot[index]
        table.add_row(
            child.tag,
            _state_text(row, child),
            f"{row['fps_in']:.1f}/{row['fps_target']:.0f}",
            f"{row['fps_done']:.1f}",
            f"{row['latency_ms']:.0f} ms",
            str(int(row["detections_last"])),
            f"{int(row['dropped_source']) + int(row['dropped_stale'])}",
            str(int(row["restarts"])),
            _heartbeat_age(row, child, now),
        )
    inference = snapshot[0]
    table.caption = (
        f"inference {_state_text(inference, children[0])} "
        f"backend {bytes(inference['backend']).decode(errors='replace') or '-'} · "
        f"batch {inference['batch_mean']:.1f} (max {config.inference.max_batch}) · "
        f"{inference['images_per_s']:.1f} images/s · {inference['infer_ms']:.0f} ms/batch · "
        f"torn {int(inference['torn_reads'])} · restarts {int(inference['restarts'])}"
    )
    table.caption_justify = "left"
    return table


def status_line(snapshot: np.ndarray, children: Sequence[Child]) -> str:
    """One compact line: inference throughput, then per camera state fps/target dets drops."""
    inference = snapshot[0]
    parts = [
        f"INFERENCE {children[0].state.name} {inference['images_per_s']:.1f} img/s batch {inference['batch_mean']:.1f}"
    ]
    for index, child in enumerate(children[1:], start=1):
        row = snapshot[index]
        state = child.state.name
        if child.state is ProcessState.RUNNING:
            state = StreamState(int(row["stream_state"])).name
        parts.append(
            f"{child.tag} {state} {row['fps_done']:.1f}/{row['fps_target']:.0f}fps "
            f"det {int(row['detections_last'])} drop {int(row['dropped_source']) + int(row['dropped_stale'])} "
            f"rst {int(row['restarts'])}"
        )
    return " | ".join(parts)


class StatusView:
    """Context manager; call refresh(now) from the supervisor loop."""

    def __init__(
        self, config: SiteConfig, board: StatusBoard | None, children: Sequence[Child], live: bool
    ) -> None:
        assert board is not None
        self._config = config
        self._board = board
        self._children = children
        self._live: Live | None = None
        self._use_live = live and sys.stdout.isatty()
        self._next_at = 0.0
        period = config.dashboard.status_line_interval
        self._period = 1.0 / config.dashboard.refresh_hz if self._use_live else period

    def __enter__(self) -> StatusView:
        if self._use_live:
            self._live = Live(console=Console(), auto_refresh=False, transient=False)
            self._live.__enter__()
        self._next_at = time.monotonic() + (0 if self._use_live else self._period)
        return self

    def refresh(self, now: float) -> None:
        if now < self._next_at:
            return
        self._next_at = now + self._period
        snapshot = self._board.snapshot()
        if self._live is not None:
            self._live.update(
                render_table(self._config, snapshot, self._children, now), refresh=True
            )
        else:
            print(time.strftime("%H:%M:%S"), status_line(snapshot, self._children), flush=True)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(
                render_table(
                    self._config, self._board.snapshot(), self._children, time.monotonic()
                ),
                refresh=True,
            )
            self._live.__exit__(kind, error, trace)
