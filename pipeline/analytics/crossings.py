"""Workers who cross: which tracks met, and whether their evidence since says the tracker
swapped their ids (violations.py repairs the swap).

The tracker matches boxes only, so two workers who cross can come out with each other's
track id. The swap shows in their evidence: the one in violation starts to show the item
(his track now follows the other worker), while the other's track, compliant before they
met, loses it. Two tracks have *met* while their boxes overlap (IoU >= CROSSING_IOU, as
little as ByteTrack needs to match a box across); an encounter is remembered for
`window_s` after the last overlap. Tracks are named by their records' serials (a track id
changes with a takeover). Times are seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np

from pipeline.analytics.evidence import ItemEvidence, ItemState
from pipeline.analytics.geometry import box_iou
from pipeline.config.compliance import PpeItem

CROSSING_IOU = 0.1  # two tracks whose boxes overlap this much can swap ids (ByteTrack: min_iou)


class Encounters:
    """Pairs of tracks that met within `window_s`: (first, last) time of the encounter."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._met: dict[frozenset[int], tuple[float, float]] = {}

    def update(self, serials: Sequence[int], boxes: np.ndarray, t: float) -> None:
        """This frame's tracks (`serials`, `boxes` (N, 4)) at time `t`."""
        self._met = {pair: met for pair, met in self._met.items() if t - met[1] <= self.window_s}
        if len(serials) < 2:
            return
        overlap = box_iou(boxes, boxes)
        for i, j in combinations(range(len(serials)), 2):
            if overlap[i, j] >= CROSSING_IOU:
                pair = frozenset((serials[i], serials[j]))
                self._met[pair] = (self._met.get(pair, (t, t))[0], t)

    def met(self, first: int, second: int) -> float | None:
        """When the two tracks' current encounter began; None: they have not met lately."""
        met = self._met.get(frozenset((first, second)))
        return None if met is None else met[0]


def looks_swapped(
    violator: Mapping[PpeItem, ItemEvidence],
    other: Mapping[PpeItem, ItemEvidence],
    met: float,
    shown_s: float,
) -> bool:
    """`violator` has an item in violation from before `met` that has shown present for
    `shown_s` since, which `other` lost only since `met`."""
    for item, state in violator.items():
        theirs = other.get(item)
        if (
            state.state is ItemState.VIOLATION
            and state.onset is not None
            and state.onset < met
            and state.present_s >= shown_s
            and theirs is not None
            and theirs.onset is not None
            and theirs.onset >= met
        ):
            return True
    return False


def forget_since(items: Mapping[PpeItem, ItemEvidence], met: float) -> None:
    """After a repaired swap: what the track saw since the two met was the other worker's.
    A violation from before keeps its state, less the presence seen since; a suspicion (or
    violation) that began since is dropped."""
    for state in items.values():
        if state.onset is None:
            continue
        if state.onset >= met:
            state.reset()
        elif state.state is ItemState.VIOLATION:
            state.present_s = 0.0
