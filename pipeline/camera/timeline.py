"""Source timestamps of a live camera, kept increasing across reconnects."""

from __future__ import annotations


class SourceTimeline:
    """Source timestamps that keep increasing across reconnects (a reopened stream starts its
    clock again at 0) so that rate decimation and logs downstream never see time run back."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._last: tuple[float, float] | None = None  # (pts out, captured_at)
        self._new_session = False

    def new_session(self) -> None:
        self._new_session = True

    def stamp(self, pts: float, captured_at: float, period: float) -> float:
        if self._last is not None:
            last_pts, last_at = self._last
            if self._new_session:
                # Continue from the last frame by the time that really passed.
                self._offset = last_pts + max(period, captured_at - last_at) - pts
            elif pts + self._offset <= last_pts:
                self._offset = last_pts + period - pts
        self._new_session = False
        out = pts + self._offset
        self._last = (out, captured_at)
        return out
