"""When to restart a child: the predecessor's rule (at most `max_restarts` inside
`restart_window` seconds, then give up) plus a growing delay between attempts."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class RestartPolicy:
    """Restart bookkeeping for one child. Times are time.monotonic() seconds."""

    max_restarts: int
    window: float
    first_delay: float = 0.5
    max_delay: float = 30.0
    _restarts: deque[float] = field(default_factory=deque, init=False, repr=False)

    def recent_restarts(self, now: float) -> int:
        while self._restarts and now - self._restarts[0] > self.window:
            self._restarts.popleft()
        return len(self._restarts)

    def next_restart_delay(self, now: float) -> float | None:
        """Seconds to wait before restarting a child that just failed; None: give up (FATAL)."""
        recent = self.recent_restarts(now)
        if recent >= self.max_restarts:
            return None
        return min(self.first_delay * (2**recent), self.max_delay)

    def record_restart(self, now: float) -> None:
        self._restarts.append(now)
