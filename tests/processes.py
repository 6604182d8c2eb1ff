"""Whether a process the test started (or a site started) is still there."""

from __future__ import annotations

import os


def alive(pid: int | None) -> bool:
    """The process exists and is not a zombie (one waits for a parent that is not the test:
    it has exited)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
