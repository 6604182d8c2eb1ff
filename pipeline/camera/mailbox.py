"""The hand-over between a camera's capture thread and its loop: one frame, the newest."""

from __future__ import annotations

import threading

from pipeline.camera.sources import CapturedFrame


class NewestFrame:
    """A one-frame mailbox between the capture thread and the camera loop."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: CapturedFrame | None = None
        self.overwritten = 0  # frames replaced before the loop took them
        self.closed = False

    def put_latest(self, frame: CapturedFrame) -> None:
        with self._cond:
            if self._frame is not None:
                self.overwritten += 1
            self._frame = frame

    def put_when_taken(self, frame: CapturedFrame) -> None:
        """Waits until the previous frame was taken (no frame is ever dropped) or closed."""
        with self._cond:
            while self._frame is not None and not self.closed:
                self._cond.wait(0.5)
            self._frame = frame

    def take(self) -> CapturedFrame | None:
        with self._cond:
            frame, self._frame = self._frame, None
            self._cond.notify()
            return frame

    def pending(self) -> bool:
        return self._frame is not None

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
