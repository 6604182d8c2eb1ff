"""Deterministic random streams keyed by (scene seed, purpose, ...).

Every random choice in a scene draws from a generator built from a key, never from a shared
stream, so that rendering frame 5 before frame 3 cannot change frame 3.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """What a random stream is for; part of its key so that purposes never share numbers."""

    CAMERA = 1
    BACKGROUND = 2
    CLUTTER = 3
    SLOTS = 4
    WORKER = 5
    FRAME = 6
    SENSOR = 7
    # Compliance scenes only (WorksiteScene(compliance=True)); plain scenes never draw these.
    ZONE = 8
    SCRIPT_SLOTS = 9
    SCRIPT_VISIT = 10
    SCRIPT_PROPS = 11


def stream(seed: int, purpose: Stream, *keys: int) -> np.random.Generator:
    """A generator that depends only on (seed, purpose, keys); all must be >= 0."""
    return np.random.default_rng([seed, int(purpose), *keys])
