"""When to restart a child: the predecessor's budget (at most `max_restarts` inside
`restart_window` seconds, then give up) with an exponential, jittered, capped delay between
attempts, and a fresh budget once the child has run healthy for a while.

Jitter spreads the restarts of cameras that failed together (a switch rebooting takes every
camera down at once) so that they do not all reconnect in the same instant.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

JITTER = 0.2  # each delay is scaled by a factor drawn from [1 - JITTER, 1 + JITTER]


@dataclass
class RestartPolicy:
    """Restart bookkeeping for one child. Times are time.monotonic() seconds.

    `rng` draws the jitter; give a seeded `random.Random` for reproducible delays.
    """

    max_restarts: int
    window: float
    first_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = JITTER
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _restarts: deque[float] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter is a fraction in [0, 1), got {self.jitter}")
        if self.max_delay < self.first_delay:
            raise ValueError(
                f"max_delay ({self.max_delay:g} s) must be >= first_delay ({self.first_delay:g} s)"
            )

    def recent_restarts(self, now: float) -> int:
        """Restarts inside the window ending at `now`."""
        while self._restarts and now - self._restarts[0] > self.window:
            self._restarts.popleft()
        return len(self._restarts)

    def budget_left(self, now: float) -> int:
        return max(0, self.max_restarts - self.recent_restarts(now))

    def base_delay(self, now: float) -> float:
        """The delay before jitter: first_delay doubled per restart inside the window, capped
        at max_delay (seconds)."""
        return min(self.first_delay * 2.0 ** min(self.recent_restarts(now), 62), self.max_delay)

    def next_restart_delay(self, now: float) -> float | None:
        """Seconds to wait before restarting a child that just failed; None: the budget is
        spent (FATAL)."""
        if self.recent_restarts(now) >= self.max_restarts:
            return None
        scale = 1.0 + self.jitter * self.rng.uniform(-1.0, 1.0)
        return min(self.base_delay(now) * scale, self.max_delay)

    def record_restart(self, now: float) -> None:
        self._restarts.append(now)

    def refill(self) -> None:
        """The child ran healthy long enough: a full budget and the shortest delay again."""
        self._restarts.clear()
