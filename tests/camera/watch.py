"""Plays the camera loop's part against a Capture: polls it, keeps the frames, notes states."""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.camera.capture import Capture
from pipeline.camera.sources import CapturedFrame
from pipeline.shm.states import StreamState

POLL_INTERVAL = 0.005


class Watch:
    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.frames: list[CapturedFrame] = []
        self.seen: list[tuple[float, StreamState]] = []  # state changes as polled

    def step(self) -> None:
        frame = self.capture.poll()
        if frame is not None:
            self.frames.append(frame)
        state = self.capture.state
        if not self.seen or self.seen[-1][1] is not state:
            self.seen.append((time.monotonic(), state))

    def until(self, condition: Callable[[], bool], timeout: float, what: str) -> float:
        """Polls until `condition()`; returns the seconds it took. Fails the test on timeout."""
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > timeout:
                raise AssertionError(
                    f"{what}: not within {timeout:.1f}s; states seen {self.state_names()}, "
                    f"history {[(t.state.name, t.detail) for t in self.capture.history]}"
                )
            self.step()
            time.sleep(POLL_INTERVAL)
        return time.monotonic() - start

    def run_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.step()
            time.sleep(POLL_INTERVAL)

    def frames_since(self, moment: float) -> list[CapturedFrame]:
        return [frame for frame in self.frames if frame.captured_at > moment]

    def new_frames(self, moment: float, count: int) -> Callable[[], bool]:
        return lambda: len(self.frames_since(moment)) >= count

    def in_state(self, *states: StreamState) -> Callable[[], bool]:
        return lambda: self.capture.state in states

    def state_names(self) -> list[str]:
        return [state.name for _, state in self.seen]

    def first_time_in(self, state: StreamState, after: float) -> float | None:
        return next((t for t, s in self.seen if s is state and t >= after), None)
