"""When to try a lost camera again: exponential backoff with jitter, a cap, and a reset once the
stream has been healthy for a while.

A camera that fails again and again is tried less and less often (1 s, 2 s, 4 s ... up to the
cap), so a hundred dead cameras do not hammer the network or the log; jitter spreads retries of
cameras that went down together (a switch reboot) so they do not reconnect in lockstep. A stream
that then runs for `healthy_after` seconds starts again from the initial delay on its next loss.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


class ReconnectPolicy:
    """Delays (seconds) before successive open attempts of one camera.

    `clock` (monotonic seconds) and `uniform` (a number in [0, 1)) are injectable so tests can
    replay exact sequences. Each delay is `min(initial * multiplier**n, maximum)` reduced by up
    to `jitter` of itself, so it never exceeds the cap.
    """

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        multiplier: float = 2.0,
        jitter: float = 0.2,
        healthy_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        uniform: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"need 0 < initial <= maximum, got {initial} and {maximum}")
        if multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {multiplier}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.initial = initial
        self.maximum = maximum
        self._multiplier = multiplier
        self._jitter = jitter
        self._healthy_after = healthy_after
        self._clock = clock
        self._uniform = uniform
        self.failures = 0  # consecutive failed attempts (or losses) since the last reset
        self._connected_at: float | None = None

    def connected(self) -> None:
        """The stream is up (frames arrive); remember since when."""
        self._connected_at = self._clock()

    def lost(self) -> None:
        """The stream went down. If it had been healthy long enough, start over from `initial`."""
        if self._connected_at is not None and self.healthy():
            self.failures = 0
        self._connected_at = None

    def healthy(self) -> bool:
        return (
            self._connected_at is not None
            and self._clock() - self._connected_at >= self._healthy_after
        )

    def next_delay(self) -> float:
        """The wait before the next attempt; counts one more failure."""
        ceiling = min(self.initial * self._multiplier**self.failures, self.maximum)
        self.failures += 1
        return ceiling * (1.0 - self._jitter * self._uniform())

    def slow_delay(self) -> float:
        """The wait after a failure that retrying soon cannot fix (rejected credentials): the cap."""
        self.failures += 1
        return self.maximum * (1.0 - self._jitter * self._uniform())
