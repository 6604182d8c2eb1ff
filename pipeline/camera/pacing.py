"""Timing rules of the camera loop: real-time pacing and `target_fps` decimation."""

from __future__ import annotations


class Pacer:
    """Due times for a source played at `fps` in real time (monotonic seconds).

    When the loop falls behind by more than a frame it resynchronises instead of bursting.
    """

    def __init__(self, fps: float, start: float) -> None:
        self._period = 1.0 / fps
        self.next_due = start

    def advance(self, now: float) -> None:
        self.next_due += self._period
        if now - self.next_due > self._period:
            self.next_due = now


class Decimator:
    """Keeps frames so that kept timestamps are at least 1/target_fps apart on average.

    Decides on source timestamps (not frame counts), so a source whose rate varies is still
    sampled at the target rate.
    """

    def __init__(self, target_fps: float | None) -> None:
        self._period = 1.0 / target_fps if target_fps else 0.0
        self._next_pts: float | None = None

    def keep(self, pts: float) -> bool:
        if self._period == 0.0:
            return True
        if self._next_pts is None or pts >= self._next_pts - 1e-6:
            # Step from the schedule, not from pts, so the average rate is exact; resync on gaps.
            base = (
                pts
                if self._next_pts is None or pts - self._next_pts > self._period
                else self._next_pts
            )
            self._next_pts = base + self._period
            return True
        return False
