"""Gather one batch from many cameras' rings: newest frame per camera, bounded waiting.

A batch goes out as soon as it is full (`max_batch` cameras have a new frame), or every
recently active camera has contributed, or `max_wait` has passed since the first frame of
the batch became ready; so slow cameras cost at most `max_wait` of latency, never a stall.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.shm.ring import FrameRing

POLL_INTERVAL = 0.0005  # seconds between looks at the ring headers while gathering
ACTIVE_WINDOW = 2.0  # a camera that published within this many seconds is expected in a batch


@dataclass(frozen=True)
class Pick:
    camera: int  # index into the rings
    seq: int
    slot: int


class Batcher:
    def __init__(self, rings: Sequence[FrameRing], max_batch: int, max_wait: float) -> None:
        self._rings = rings
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._taken = [0] * len(rings)  # newest seq handed out per camera
        self._seen = [0] * len(rings)  # newest seq observed per camera
        self._last_new = [float("-inf")] * len(rings)  # when a camera last published
        self._ready_since: list[float | None] = [None] * len(rings)  # waiting since
        self.superseded = 0  # frames never batched because a newer one of the camera won

    def _ready(self, now: float) -> dict[int, tuple[int, int]]:
        ready = {}
        for camera, ring in enumerate(self._rings):
            newest = ring.newest()
            if newest is None:
                continue
            seq, slot = newest
            if seq < self._seen[camera]:
                # The ring was recreated and numbering restarted: follow the new writer.
                self._taken[camera] = 0
            if seq != self._seen[camera]:
                self._seen[camera] = seq
                self._last_new[camera] = now
            if seq > self._taken[camera]:
                if self._ready_since[camera] is None:
                    self._ready_since[camera] = now
                ready[camera] = (seq, slot)
        return ready

    def gather(self, should_stop: Callable[[], bool], idle_timeout: float = 0.1) -> list[Pick]:
        """Block until a batch is due and return it (possibly empty after `idle_timeout` with
        no new frame, so the caller's loop keeps beating its heartbeat)."""
        started = time.monotonic()
        while not should_stop():
            now = time.monotonic()
            ready = self._ready(now)
            if ready:
                first_ready = min(self._waiting_since(camera, now) for camera in ready)
                active = sum(1 for t in self._last_new if now - t <= ACTIVE_WINDOW)
                if (
                    len(ready) >= self._max_batch
                    or len(ready) >= active
                    or now - first_ready >= self._max_wait
                ):
                    return self._take(ready)
            elif now - started >= idle_timeout:
                return []
            time.sleep(POLL_INTERVAL)
        return []

    def _waiting_since(self, camera: int, default: float) -> float:
        since = self._ready_since[camera]
        return default if since is None else since

    def _take(self, ready: dict[int, tuple[int, int]]) -> list[Pick]:
        # The cameras that have waited longest go first when there are more than fit.
        order = sorted(ready, key=lambda camera: self._waiting_since(camera, 0.0))
        order = order[: self._max_batch]
        picks = []
        for camera in order:
            seq, slot = ready[camera]
            if self._taken[camera]:
                self.superseded += max(0, seq - self._taken[camera] - 1)
            self._taken[camera] = seq
            self._ready_since[camera] = None
            picks.append(Pick(camera, seq, slot))
        return picks
