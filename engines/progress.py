"""What a build shows while TensorRT works: its phases and steps, as they come.

TensorRT reports them to an `IProgressMonitor` (`phase_start(name, parent, steps)`,
`step_complete(name, step) -> bool`, `phase_finish(name)`; TensorRT's
samples/python/simple_progress_monitor). The builder forwards those calls to a
`BuildProgress`: rich bars on a terminal (`RichBuildProgress`), log lines in the inference
process when it rebuilds a stale engine itself (`LoggedBuildProgress`). A Jetson build takes
10-20 minutes; without this it looks hung.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

logger = logging.getLogger(__name__)


class BuildProgress(Protocol):
    def phase_start(self, phase: str, parent: str | None, steps: int) -> None: ...

    def step_complete(self, phase: str, step: int) -> None: ...

    def phase_finish(self, phase: str) -> None: ...


class RichBuildProgress:
    """One bar per open phase, nested phases indented under their parent."""

    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, tuple[TaskID, int]] = {}  # phase -> (rich task, depth)

    def __enter__(self) -> RichBuildProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None:
        depth = self._tasks[parent][1] + 1 if parent in self._tasks else 0
        task = self.progress.add_task("  " * depth + phase, total=max(steps, 1))
        self._tasks[phase] = (task, depth)

    def step_complete(self, phase: str, step: int) -> None:
        if phase in self._tasks:  # TensorRT counts steps from 0
            self.progress.update(self._tasks[phase][0], completed=step + 1)

    def phase_finish(self, phase: str) -> None:
        if phase not in self._tasks:
            return
        task, depth = self._tasks.pop(phase)
        if depth:
            self.progress.remove_task(task)  # only the top-level phases stay on screen
        else:
            total = next(t.total for t in self.progress.tasks if t.id == task)
            self.progress.update(task, completed=total)

    @property
    def open_phases(self) -> list[str]:
        return list(self._tasks)


class LoggedBuildProgress:
    """Top-level phases as log lines with their duration (no terminal in a child process)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._started: dict[str, float] = {}

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None:
        if parent is None:
            self._started[phase] = time.monotonic()
            logger.info("Building %s: %s (%d steps)", self.name, phase, steps)

    def step_complete(self, phase: str, step: int) -> None:
        return None

    def phase_finish(self, phase: str) -> None:
        started = self._started.pop(phase, None)
        if started is not None:
            logger.info(
                "Building %s: %s done in %.1f s", self.name, phase, time.monotonic() - started
            )
