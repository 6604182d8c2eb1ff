"""What every sink shares: the interface the delivery loop drives, and retry backoff."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pipeline.events.outbox import StoredEvent


@dataclass(frozen=True)
class Delivery:
    """The answer of one `Sink.send`."""

    delivered: int  # events from the start of the batch that are acknowledged, in order
    error: str | None = None  # why the rest were not (credentials already masked)
    retry_after: float = 0.0  # seconds before the next attempt


class Sink(Protocol):
    """One destination. `send` is called by one thread only, with the events after the
    sink's cursor, in order; it returns when they are acknowledged, when it gives up for now,
    or soon after `abort` is set. It never raises for a destination that is down or slow:
    that is a Delivery with an error."""

    name: str

    def describe(self) -> str:
        """For log lines: the destination with credentials masked."""
        ...

    def open(self) -> None: ...

    def send(self, events: Sequence[StoredEvent], abort: threading.Event) -> Delivery: ...

    def close(self, timeout: float) -> None:
        """Release connections and files, waiting at most `timeout` seconds."""
        ...


class Backoff:
    """Exponential retry delays: initial, 2x initial, ... up to maximum, with +-10 % jitter
    so that sinks failing together do not retry in lockstep."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0

    def failure(self) -> float:
        """Seconds to wait before the next attempt, after one more failure."""
        delay = min(self.maximum, self.initial * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return delay * random.uniform(0.9, 1.1)

    def success(self) -> None:
        self.failures = 0
