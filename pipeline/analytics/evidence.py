"""The state of one required item for one track, advanced by time (seconds), not frames.

Each frame gives each tracked person, per item, one piece of evidence, which stands until
the next frame (for at most `max_step_s`):

- PRESENT: a box proving the item worn was given to the person (association.py);
- ABSENT: a box proving it missing (a bare `head`, `no helmet`), and none proving it worn;
- MISSING: nothing either way, on a person large enough to judge;
- UNJUDGED: nothing either way, on a person too small to judge (shorter than
  `min_person_height_px` in the detector's input) or whose head is cut off by the top of
  the frame (helmets only). Deliberately no evidence at all: the item's state holds as it
  was, so a far worker never raises an alert on his own (the detector cannot see a hard hat
  at that size, and an alert needs evidence), and a worker already in violation stays so
  until he is seen again or leaves.

COMPLIANT -> SUSPECT at the first ABSENT/MISSING. While SUSPECT, `missing_s` grows by dt for
MISSING and by `absence_weight` x dt for ABSENT (a bare head speeds suspicion up), and
shrinks by `presence_drain` x dt for PRESENT; back at 0 it is COMPLIANT again, at
`min_violation_s` it is a VIOLATION. A detector that finds the helmet in at least
1 / (1 + presence_drain) of the frames (a third, by default) keeps a worker compliant.
While VIOLATION, `present_s` grows by dt for PRESENT and shrinks for ABSENT/MISSING (by the
same weights); at `clear_s` the item is COMPLIANT again (hysteresis: one frame with a helmet
ends nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pipeline.config.compliance import ViolationRules

_EPSILON = 1e-6  # seconds: sums of frame intervals (15 x 0.2) land just below 3.0


class Evidence(str, Enum):
    PRESENT = "present"
    ABSENT = "absent"
    MISSING = "missing"
    UNJUDGED = "unjudged"


class ItemState(str, Enum):
    COMPLIANT = "compliant"
    SUSPECT = "suspect"
    VIOLATION = "violation"


def classify(present_score: float, absent_score: float, judgeable: bool) -> Evidence:
    """One frame's evidence for one item of one person, from the best scores of the boxes
    given to the person (0: none) proving it worn / missing."""
    if present_score > 0 and present_score >= absent_score:
        return Evidence.PRESENT
    if not judgeable:
        return Evidence.UNJUDGED
    return Evidence.ABSENT if absent_score > 0 else Evidence.MISSING


@dataclass
class ItemEvidence:
    """Mutable: one track's state for one item. Times in seconds of the camera timeline.

    A frame's evidence holds from its time until the next frame's (sample and hold), so a
    helmet taken off at t = 5.0 makes the item suspect from 5.0 and a violation at 8.0 with
    the defaults, whether the camera runs at 5 or 25 frames/s."""

    state: ItemState = ItemState.COMPLIANT
    missing_s: float = 0.0  # SUSPECT: net seconds of missing evidence
    present_s: float = 0.0  # VIOLATION: net seconds of presence
    onset: float | None = None  # when the current suspicion began
    unseen_s: float = 0.0  # since onset: seconds ABSENT or MISSING
    seen_s: float = 0.0  # since onset: seconds PRESENT
    judged: bool = False  # ever had evidence other than UNJUDGED
    held: Evidence | None = None  # the previous frame's evidence, in force until this frame

    def observe(self, evidence: Evidence, t: float, dt: float, rules: ViolationRules) -> None:
        """Frame time `t`: the previous evidence held for `dt` seconds; `evidence` is new."""
        if self.held is not None and dt > 0:
            self._hold(self.held, dt, rules)
        self.held = evidence
        if evidence is Evidence.UNJUDGED:
            return
        self.judged = True
        if evidence is not Evidence.PRESENT and self.state is ItemState.COMPLIANT:
            self.state, self.onset = ItemState.SUSPECT, t
            self.missing_s = self.unseen_s = self.seen_s = 0.0

    def _hold(self, evidence: Evidence, dt: float, rules: ViolationRules) -> None:
        if evidence is Evidence.UNJUDGED or self.state is ItemState.COMPLIANT:
            return
        if evidence is Evidence.PRESENT:
            self.seen_s += dt
            if self.state is ItemState.SUSPECT:
                self.missing_s -= rules.presence_drain * dt
                if self.missing_s <= _EPSILON:
                    self.reset()
            else:
                self.present_s += dt
                if self.present_s >= rules.clear_s - _EPSILON:
                    self.reset()
            return
        weight = rules.absence_weight if evidence is Evidence.ABSENT else 1.0
        self.unseen_s += dt
        if self.state is ItemState.SUSPECT:
            self.missing_s += weight * dt
            if self.missing_s >= rules.min_violation_s - _EPSILON:
                self.state, self.present_s = ItemState.VIOLATION, 0.0
                self.missing_s = rules.min_violation_s
        else:
            self.present_s = max(0.0, self.present_s - weight * dt)

    def reset(self) -> None:
        """Back to COMPLIANT with no suspicion (also when the item stops being required)."""
        self.state = ItemState.COMPLIANT
        self.missing_s = self.present_s = self.unseen_s = self.seen_s = 0.0
        self.onset = None
