"""Reading a JSONL file that a running site is still appending to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def complete_records(path: Path) -> list[dict[str, Any]]:
    """The file's lines that are complete (newline-terminated), parsed: a reader can catch a
    long line half-written (a write of more than a page is not seen whole at once)."""
    if not path.exists():
        return []
    *complete, _partial = path.read_text().split("\n")
    return [json.loads(line) for line in complete if line]
