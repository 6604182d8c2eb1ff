"""Where the inference process's time goes: per-stage wall time and the process's CPU time
per image, reported to the log every `inference.report_interval` seconds.

Stages: `copy` (ring slots into the batch buffers, checked), `preprocess` (uint8 to the
model's tensor, inside the backend), `model` (the backend's run), `decode` (outputs to
detections in camera pixels), `answer` (result rings). `waiting` is the share of wall time
spent gathering a batch (polling the rings, idle).
"""

from __future__ import annotations

import time

STAGES = ("copy", "preprocess", "model", "decode", "answer")


class StageClock:
    def __init__(self, interval: float, now: float) -> None:
        self._interval = interval
        self._reset(now)

    def _reset(self, now: float) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.waiting = 0.0
        self.images = 0
        self._since = now
        self._cpu_since = time.process_time()

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += seconds

    def report_due(self, now: float) -> bool:
        return now - self._since >= self._interval

    def report(self, now: float) -> str:
        """The line for the log, and a new window from `now`."""
        elapsed = max(now - self._since, 1e-9)
        cpu = time.process_time() - self._cpu_since
        images = max(self.images, 1)
        stages = ", ".join(f"{name} {self.seconds[name] * 1000 / images:.2f} ms" for name in STAGES)
        line = (
            f"Per image over {elapsed:.0f}s ({self.images} images): {stages}; waiting "
            f"{100 * self.waiting / elapsed:.0f}% of the time; CPU {cpu * 1000 / images:.2f} ms "
            "per image"
        )
        self._reset(now)
        return line
