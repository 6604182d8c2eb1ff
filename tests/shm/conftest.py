from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterator
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

import pytest

from pipeline.shm.segments import NAME_ROOT, SHM_DIR, SegmentNames, run_prefix


def _segments_with(prefix: str) -> list[str]:
    return sorted(e for e in os.listdir(SHM_DIR) if e.startswith(f"{NAME_ROOT}_{prefix}_"))


@pytest.fixture
def names() -> Iterator[SegmentNames]:
    """Segment names unique to one test; fails the test if any segment outlives it."""
    segment_names = SegmentNames(run_prefix("shm-test"))
    yield segment_names
    left = _segments_with(segment_names.prefix)
    for entry in left:
        os.unlink(os.path.join(SHM_DIR, entry))
    assert not left, f"segments left behind in {SHM_DIR}: {left}"


class Children:
    """Spawned child processes of one test; any still alive at teardown is killed."""

    def __init__(self) -> None:
        self.context: SpawnContext = mp.get_context("spawn")
        self._started: list[SpawnProcess] = []

    def start(self, target: Callable[..., Any], *args: Any) -> SpawnProcess:
        process = self.context.Process(target=target, args=args, daemon=True)
        process.start()
        self._started.append(process)
        return process

    def run(self, target: Callable[..., Any], *args: Any, timeout: float = 60) -> None:
        """Start a child and wait for it; fail unless it exits with 0."""
        process = self.start(target, *args)
        process.join(timeout)
        assert process.exitcode == 0, f"{target.__name__} exited with {process.exitcode}"

    def kill_all(self) -> None:
        for process in self._started:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGKILL)
            process.join(10)


@pytest.fixture
def children() -> Iterator[Children]:
    spawned = Children()
    yield spawned
    spawned.kill_all()
