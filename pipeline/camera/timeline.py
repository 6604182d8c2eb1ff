"""Source timestamps: kept increasing across reconnects, and gaps in them counted as lost
frames."""

from __future__ import annotations

import statistics
from collections import deque

GAP_WINDOW = 15  # recent frame intervals whose median is "one frame"


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


class GapCounter:
    """Counts frames missing between consecutive container timestamps (milliseconds): a gap of
    k typical frame intervals means k - 1 frames lost. The typical interval is the median of
    the recent ones (starting from the nominal rate), so a camera that lowers its rate at night
    is not taken for one losing every other frame beyond a few frames of adaptation.

    Sources without timestamps (raw H.264 reports 0 for every frame) are ignored.
    """

    def __init__(self, fps: float) -> None:
        self._intervals: deque[float] = deque([1000.0 / fps], maxlen=GAP_WINDOW)
        self._last_ms: float | None = None

    def missing(self, pts_ms: float) -> int:
        if pts_ms <= 0:
            return 0
        last, self._last_ms = self._last_ms, pts_ms
        if last is None or pts_ms <= last:
            return 0
        interval = pts_ms - last
        typical = statistics.median(self._intervals)
        self._intervals.append(interval)
        return max(0, round(interval / typical) - 1)
