"""Frames a camera has sent to inference and not yet seen answered.

The camera keeps each full-resolution frame until its result arrives (to draw on it), so
this is also what bounds the camera's memory: at most `limit` frames are ever held.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pipeline.camera.sources import CapturedFrame

R = TypeVar("R")


@dataclass
class Settled:
    answered: list[tuple[CapturedFrame, int, object]]  # (frame, seq, result), oldest first
    given_up: int  # frames superseded by a newer answered one, or unanswered for too long


class InFlight:
    def __init__(self, limit: int, timeout: float) -> None:
        self.limit = limit
        self._timeout = timeout
        self._frames: OrderedDict[int, tuple[CapturedFrame, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def full(self) -> bool:
        return len(self._frames) >= self.limit

    def add(self, seq: int, frame: CapturedFrame, sent_at: float) -> None:
        self._frames[seq] = (frame, sent_at)

    def settle(self, lookup: Callable[[int], R | None], now: float) -> Settled:
        """Collect answers (`lookup(seq)` returns a result or None) and give up on frames the
        inference process skipped (an older frame than one answered: newest frame wins) or
        never answered within the timeout (inference busy, or restarting)."""
        answered: list[tuple[CapturedFrame, int, object]] = []
        for seq in list(self._frames):
            result = lookup(seq)
            if result is not None:
                answered.append((self._frames.pop(seq)[0], seq, result))
        given_up = 0
        newest_answered = answered[-1][1] if answered else 0
        for seq, (_, sent_at) in list(self._frames.items()):
            if seq < newest_answered or now - sent_at > self._timeout:
                del self._frames[seq]
                given_up += 1
        return Settled(answered, given_up)

    def clear(self) -> int:
        count = len(self._frames)
        self._frames.clear()
        return count
