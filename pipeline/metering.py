"""Rates and means over a short window, for the status board (frames/s, latency)."""

from __future__ import annotations


class WindowMeter:
    """Counts events and sums a value; `roll(now)` publishes rate and mean once per window."""

    def __init__(self, window: float = 1.0) -> None:
        self._window = window
        self._started: float | None = None
        self._count = 0
        self._total = 0.0
        self.rate = 0.0  # events per second over the last window
        self.mean = 0.0  # mean value per event over the last window

    def add(self, value: float = 0.0, count: int = 1) -> None:
        self._count += count
        self._total += value

    def roll(self, now: float) -> bool:
        """Close the window if it has elapsed; True when new figures were published."""
        if self._started is None:
            self._started = now
            return False
        elapsed = now - self._started
        if elapsed < self._window:
            return False
        self.rate = self._count / elapsed
        self.mean = self._total / self._count if self._count else 0.0
        self._started, self._count, self._total = now, 0, 0.0
        return True
